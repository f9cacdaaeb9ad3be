"""POST /email with valid messages: what the provider gets, and how provider outcomes reach the client."""
from __future__ import annotations

import base64

import pytest

from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.api.spec_check import assert_request_matches_spec
from tests.api.support import KEY, MINIMAL, MINIMAL_MESSAGE, README_BODY


def test_original_readme_request(client, providers):
    response = client.post("/email", data=README_BODY,
                           headers={"X-API-KEY": KEY, "Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.get_json() == {"provider": "mailgun", "id": "<1@mailgun>"}
    assert providers[0].sent == [MINIMAL_MESSAGE]
    assert providers[1].sent == []


GOOD = {
    "several recipients": (
        {"toaddress": ["a@example.com", "b@example.org"]},
        {"to": (Address("a@example.com"), Address("b@example.org"))},
    ),
    "cc and bcc as lists and strings": (
        {"ccaddress": ["c@example.com", "d@example.com"], "bccaddress": "e@example.com"},
        {"cc": (Address("c@example.com"), Address("d@example.com")), "bcc": (Address("e@example.com"),)},
    ),
    "empty cc list": ({"ccaddress": []}, {}),
    "html only": (
        {"plaintextbody": None, "htmlbody": "<p>hi</p>"},
        {"text": None, "html": "<p>hi</p>"},
    ),
    "empty text beside html": ({"plaintextbody": "", "htmlbody": "<p>hi</p>"},
                               {"text": None, "html": "<p>hi</p>"}),
    "text and html": ({"htmlbody": "<b>x</b>"}, {"html": "<b>x</b>"}),
    "unicode subject and body": ({"subject": "Grüße 👋", "plaintextbody": "Ωμέγα\n✓"},
                                 {"subject": "Grüße 👋", "text": "Ωμέγα\n✓"}),
    "display names": (
        {"fromaddress": "Shop Team <shop@example.com>",
         "toaddress": ['"Doe J. (work)" <j@example.com>', "Zoë Ünal <z@example.com>", "<bare@example.com>",
                       '"ann@work" <ann@example.com>', "  Spaced  Out  <s@example.com>"]},
        {"sender": Address("shop@example.com", "Shop Team"),
         "to": (Address("j@example.com", "Doe J. (work)"), Address("z@example.com", "Zoë Ünal"),
                Address("bare@example.com"), Address("ann@example.com", "ann@work"),
                Address("s@example.com", "Spaced  Out"))},
    ),
    "reply-to": ({"replytoaddress": "Help <help@example.com>"},
                 {"reply_to": Address("help@example.com", "Help")}),
    "headers": (
        {"headers": {"X-Campaign": "spring", "x-trace": "a b:c", "X-Empty": ""}},
        {"headers": (("X-Campaign", "spring"), ("x-trace", "a b:c"), ("X-Empty", ""))},
    ),
    "tags": ({"tags": ["orders", "Tag with spaces", "t" * 128]},
             {"tags": ("orders", "Tag with spaces", "t" * 128)}),
    "attachments": (
        {"attachments": [
            {"filename": "a.txt", "contenttype": "text/plain", "content": "aGVsbG8="},
            {"filename": "ünïcode.bin", "content": base64.b64encode(bytes(range(256))).decode()},
            {"filename": "x.pdf", "contenttype": None, "content": "QUI="},
        ]},
        {"attachments": (Attachment("a.txt", "text/plain", b"hello"),
                         Attachment("ünïcode.bin", "application/octet-stream", bytes(range(256))),
                         Attachment("x.pdf", "application/octet-stream", b"AB"))},
    ),
    "nulls mean absent": (
        {"ccaddress": None, "bccaddress": None, "replytoaddress": None, "htmlbody": None, "headers": None,
         "tags": None, "attachments": None},
        {},
    ),
    "the same address in different case as sender": ({"fromaddress": "ANOTHER@email.com"},
                                                      {"sender": Address("ANOTHER@email.com")}),
    "longest subject": ({"subject": "s" * 998}, {"subject": "s" * 998}),
    "1000 recipients": (
        {"toaddress": [f"to{i}@example.com" for i in range(500)],
         "ccaddress": [f"cc{i}@example.com" for i in range(300)],
         "bccaddress": [f"bcc{i}@example.com" for i in range(200)]},
        {"to": tuple(Address(f"to{i}@example.com") for i in range(500)),
         "cc": tuple(Address(f"cc{i}@example.com") for i in range(300)),
         "bcc": tuple(Address(f"bcc{i}@example.com") for i in range(200))},
    ),
}


@pytest.mark.parametrize("fields, expected", GOOD.values(), ids=GOOD.keys())
def test_valid_message_reaches_the_provider(post_email, providers, fields, expected):
    body = {**MINIMAL, **fields}
    response = post_email(body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["provider"] == "mailgun"
    assert providers[0].sent == [Message(**{**MINIMAL_MESSAGE.__dict__, **expected})]
    assert_request_matches_spec(body)


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8",
    "application/vnd.sendmail+json",
])
def test_json_content_types_are_accepted(post_email, content_type):
    assert post_email(data=README_BODY, content_type=content_type).status_code == 200


def test_provider_without_an_id(post_email, providers):
    providers[0].outcome = Outcome(OutcomeKind.ACCEPTED, message_id=None)
    assert post_email(MINIMAL).get_json() == {"provider": "mailgun", "id": None}


def test_rejected_by_provider_is_422_with_its_reason(post_email, providers):
    reason = "to parameter is not a valid address"
    providers[0].outcome = Outcome(OutcomeKind.REJECTED, reason=reason, status=400)
    response = post_email(MINIMAL)
    assert response.status_code == 422
    assert response.get_json()["provider"] == "mailgun"
    assert reason in response.get_json()["message"]
    assert providers[1].sent == []  # failing over would be pointless


def test_ambiguous_outcome_is_502_and_not_sent_again(post_email, providers):
    providers[0].outcome = Outcome(OutcomeKind.AMBIGUOUS, reason="HTTP 500", status=500)
    response = post_email(MINIMAL)
    assert response.status_code == 502
    assert response.get_json()["provider"] == "mailgun"
    assert providers[1].sent == []


def test_timeout_after_sending_is_504(post_email, providers):
    providers[0].outcome = Outcome(OutcomeKind.AMBIGUOUS, reason="read timeout", timed_out=True)
    response = post_email(MINIMAL)
    assert response.status_code == 504
    assert providers[1].sent == []


def test_failover_names_the_secondary(post_email, providers):
    providers[0].outcome = Outcome(OutcomeKind.NOT_ACCEPTED, reason="HTTP 401", status=401)
    response = post_email(MINIMAL)
    assert response.status_code == 200
    assert response.get_json() == {"provider": "sendgrid", "id": "<1@sendgrid>"}
    assert providers[0].sent == providers[1].sent == [MINIMAL_MESSAGE]


def test_all_providers_failed_is_502(post_email, providers):
    for provider in providers:
        provider.outcome = Outcome(OutcomeKind.NOT_ACCEPTED, reason="connection refused")
    response = post_email(MINIMAL)
    assert response.status_code == 502
    assert "provider" not in response.get_json()
    assert "connection refused" in response.get_json()["message"]


def test_all_circuits_open_is_503_with_retry_after(post_email, providers):
    for provider in providers:
        provider.outcome = Outcome(OutcomeKind.NOT_ACCEPTED, reason="HTTP 503", status=503)
    post_email(MINIMAL)  # opens both circuits (threshold 1)
    response = post_email(MINIMAL)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["retry_after"] == int(response.headers["Retry-After"])
    assert [len(provider.sent) for provider in providers] == [1, 1]  # nothing tried the second time
