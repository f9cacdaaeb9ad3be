"""The fake SendGrid answers as docs/provider-apis.md section 2 says the real one does."""

import base64
import hashlib
import re

import jsonschema
import pytest
import requests

from tests.sendgrid_spec import mail_send_validator

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess

MAX_REQUEST_BYTES = 30 * 1000 * 1000
DUPLICATE = ("Each email address in the personalization block should be unique between to, cc, and "
             "bcc. We found the first duplicate instance of [{}] in the personalizations.0.{} field.")


def assert_error(response, status, message, field=None):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"errors": [{"message": message, "field": field, "help": None}]}


def assert_accepted(response, status=202):
    assert response.status_code == status
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", response.headers["X-Message-Id"])


def test_accepts_a_message_with_202_and_a_message_id(fake, sendgrid, sendgrid_payload):
    response = sendgrid(sendgrid_payload())

    assert_accepted(response)
    [record] = fake.control.messages("sendgrid")
    assert record["id"] == response.headers["X-Message-Id"]
    assert record["probe"] is False
    assert (record["from"], record["to"], record["subject"], record["text"], record["html"]) == (
        "Sender <sender@example.com>", ["Rcpt <rcpt@example.com>"], "Hello", "Hello there",
        "<p>Hello there</p>")


def test_message_ids_are_unique(sendgrid, sendgrid_payload):
    ids = {sendgrid(sendgrid_payload()).headers["X-Message-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_sandbox_mode_is_a_200_recorded_as_a_probe(fake, sendgrid, sendgrid_payload):
    response = sendgrid(sendgrid_payload(mail_settings={"sandbox_mode": {"enable": True}}))

    assert_accepted(response, status=200)
    assert fake.control.messages("sendgrid") == []
    [probe] = fake.control.messages("sendgrid", probes=True)
    assert probe["probe"] is True and probe["id"] == response.headers["X-Message-Id"]


@pytest.mark.parametrize("enable", ["true", False])
def test_sandbox_needs_a_real_true(fake, sendgrid, sendgrid_payload, enable):
    response = sendgrid(sendgrid_payload(mail_settings={"sandbox_mode": {"enable": enable}}))

    assert_accepted(response, status=202)
    assert len(fake.control.messages("sendgrid")) == 1


@pytest.mark.parametrize("headers, message", [
    pytest.param({}, "authorization required", id="missing"),
    pytest.param({"Authorization": "Bearer wrong"},
                 "The provided authorization grant is invalid, expired, or revoked", id="wrong-key"),
    pytest.param({"Authorization": "Basic c2ctdGVzdC1rZXk6"},
                 "The provided authorization grant is invalid, expired, or revoked", id="basic"),
])
def test_bad_credentials_get_a_401(fake, sendgrid, sendgrid_payload, headers, message):
    assert_error(sendgrid(sendgrid_payload(), headers=headers), 401, message)
    assert fake.control.messages("sendgrid", probes=None) == []


@pytest.mark.parametrize("method, path, status, message", [
    ("POST", "/v3/mail/batch", 404, "not found"),
    ("POST", "/v3/mail/send/extra", 404, "not found"),
    ("GET", "/v3/mail/send", 405, "method not allowed"),
    ("PUT", "/v3/mail/send", 405, "method not allowed"),
])
def test_wrong_path_or_method(fake, method, path, status, message):
    response = requests.request(method, fake.urls["sendgrid"] + path, timeout=5,
                                headers={"Authorization": f"Bearer {fake.options['sendgrid_key']}"})
    assert_error(response, status, message)


def test_a_body_that_is_not_json_is_a_415(sendgrid, sendgrid_payload):
    response = sendgrid(data="personalizations=x", headers={
        "Authorization": "Bearer sg-test-key", "Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, "Content-Type should be application/json.")


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"text"', b"\xff\xfe{}"])
def test_malformed_json_is_a_bare_bad_request(sendgrid, body):
    response = sendgrid(data=body, headers={
        "Authorization": "Bearer sg-test-key", "Content-Type": "application/json"})
    assert_error(response, 400, "Bad Request")


def test_a_request_over_30_mb_is_a_413(sendgrid):
    body = b'{"x": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    response = sendgrid(data=body, timeout=(5, 60), headers={
        "Authorization": "Bearer sg-test-key", "Content-Type": "application/json"})
    assert_error(response, 413, "content too large")


def _set(path, value):
    """A change to the valid payload: put value at a dotted path (None deletes it)."""

    def change(payload):
        *parents, last = path.split(".")
        target = payload
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is None:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return payload

    return change


def _all(*changes):
    def change(payload):
        for one in changes:
            payload = one(payload)
        return payload

    return change


def _recipients(count, prefix="r"):
    return [{"email": f"{prefix}{i}@example.com"} for i in range(count)]


ATTACHMENT = {"content": base64.b64encode(b"hello").decode(), "filename": "hello.txt"}

INVALID_CASES = [
    pytest.param(_set("personalizations", None), "personalizations", id="no-personalizations"),
    pytest.param(_set("personalizations", []), "personalizations", id="empty-personalizations"),
    pytest.param(_set("personalizations", [{"to": [{"email": f"r{i}@example.com"}]} for i in range(1001)]),
                 "personalizations", id="1001-personalizations"),
    pytest.param(_set("personalizations.0.to", None), "personalizations.0.to", id="no-to"),
    pytest.param(_set("personalizations.0.to", []), "personalizations.0.to", id="empty-to"),
    pytest.param(_set("personalizations.0.to.0.email", "nope"), "personalizations.0.to.0.email",
                 id="bad-to"),
    pytest.param(_set("personalizations.0.cc", [{"email": "cc@"}]), "personalizations.0.cc.0.email",
                 id="bad-cc"),
    pytest.param(_set("personalizations.0.to.0.name", "Doe; John"), "personalizations.0.to.0.name",
                 id="semicolon-in-name"),
    pytest.param(_set("personalizations", [{"to": _recipients(600)}, {"to": _recipients(401, "s")}]),
                 "personalizations", id="1001-recipients"),
    pytest.param(_set("from", None), "from", id="no-from"),
    pytest.param(_set("from", {"name": "No Email"}), "from", id="from-without-email"),
    pytest.param(_set("from.email", "sender"), "from.email", id="bad-from"),
    pytest.param(_set("subject", None), "subject", id="no-subject"),
    pytest.param(_set("subject", ""), "subject", id="empty-subject"),
    pytest.param(_set("personalizations.0.subject", ""), "personalizations.0.subject",
                 id="empty-personalization-subject"),
    pytest.param(_set("content", None), "content", id="no-content"),
    pytest.param(_set("content", []), "content", id="empty-content"),
    pytest.param(_set("content.0.value", ""), "content.0.value", id="empty-content-value"),
    pytest.param(_set("content.0.type", ""), "content.0.type", id="empty-content-type"),
    pytest.param(_set("content", [{"type": "text/html", "value": "<p>x</p>"},
                                  {"type": "text/plain", "value": "x"}]), "content", id="html-first"),
    pytest.param(_set("content", [{"type": "text/plain", "value": "x"}] * 2), "content",
                 id="plain-twice"),
    pytest.param(_all(_set("reply_to", {"email": "a@example.com"}),
                      _set("reply_to_list", [{"email": "b@example.com"}])),
                 "reply_to", id="reply-to-and-list"),
    pytest.param(_set("attachments", [{"filename": "a.txt"}]), "attachments.0.content",
                 id="attachment-without-content"),
    pytest.param(_set("attachments", [{**ATTACHMENT, "content": "not base64!"}]), "attachments.0.content",
                 id="attachment-not-base64"),
    pytest.param(_set("attachments", [{"content": ATTACHMENT["content"]}]), "attachments.0.filename",
                 id="attachment-without-filename"),
    pytest.param(_set("attachments", [{**ATTACHMENT, "disposition": "embedded"}]),
                 "attachments.0.disposition", id="bad-disposition"),
    pytest.param(_set("categories", [f"c{i}" for i in range(11)]), "categories", id="11-categories"),
    pytest.param(_set("categories", ["a", "a"]), "categories", id="duplicate-categories"),
    pytest.param(_set("categories", ["x" * 256]), "categories.0", id="long-category"),
    pytest.param(_set("headers", {"X-Count": 3}), "headers.X-Count", id="non-string-header"),
    pytest.param(_set("headers", {"reply-to": "x@example.com"}), "headers.reply-to",
                 id="reserved-header-lowercase"),
    pytest.param(_set("headers", {"X-SG-ID": "1"}), "headers.X-SG-ID", id="reserved-header-upper"),
    pytest.param(_set("personalizations.0.headers", {"Subject": "x"}),
                 "personalizations.0.headers.Subject", id="reserved-personalization-header"),
    pytest.param(_set("custom_args", {"n": 1}), None, id="non-string-custom-arg"),
    pytest.param(_set("personalizations.0.custom_args", {"n": True}), None,
                 id="non-string-personalization-custom-arg"),
    pytest.param(_set("personalizations", ["rcpt@example.com"]), None, id="personalization-not-object"),
]


@pytest.mark.parametrize("change, field", INVALID_CASES)
def test_invalid_payloads_get_a_400_naming_the_field(fake, sendgrid, sendgrid_payload, change, field):
    response = sendgrid(change(sendgrid_payload()))

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["help"] is None
    # A field-level rule says what is wrong; a wrong JSON type gets SendGrid's bare "Bad Request".
    if field is None:
        assert error["message"] == "Bad Request"
    else:
        assert error["message"] and error["message"] != "Bad Request"
    assert fake.control.messages("sendgrid", probes=None) == []


@pytest.mark.parametrize("kind", ["cc", "bcc"])
def test_an_address_may_appear_once_per_personalization(sendgrid, sendgrid_payload, kind):
    payload = sendgrid_payload()
    payload["personalizations"][0][kind] = [{"email": "RCPT@example.com"}]

    assert_error(sendgrid(payload), 400, DUPLICATE.format("RCPT@example.com", kind),
                 "personalizations.0")


def _rich_payload(payload):
    payload["personalizations"] = [
        {"to": [{"email": "a@example.com", "name": "A"}], "cc": [{"email": "c@example.com"}],
         "subject": "First", "custom_args": {"order": "1"}, "headers": {"X-Person": "a"}},
        {"to": [{"email": "a@example.com"}], "bcc": [{"email": "b@example.com", "name": "B"}]},
    ]
    payload.update(
        reply_to_list=[{"email": "r1@example.com", "name": "R1"}, {"email": "r2@example.com"}],
        categories=["welcome", "onboarding"], headers={"X-Campaign": "autumn"},
        attachments=[{**ATTACHMENT, "type": "text/plain"},
                     {"content": base64.b64encode(b"\x89PNG").decode(), "filename": "logo.png",
                      "type": "image/png", "disposition": "inline", "content_id": "logo"}],
        tracking_settings={"click_tracking": {"enable": False}},
    )
    return payload


VALID_CASES = [
    pytest.param(lambda p: p, id="minimal"),
    pytest.param(_rich_payload, id="rich"),
    pytest.param(_set("mail_settings", {"sandbox_mode": {"enable": True}}), id="sandbox"),
    pytest.param(_all(_set("subject", None), _set("personalizations.0.subject", "Own")),
                 id="subject-in-every-personalization"),
    pytest.param(_all(_set("subject", None), _set("content", None), _set("template_id", "d-123")),
                 id="template-without-content-or-subject"),
    pytest.param(_set("content", [{"type": "text/html", "value": "<p>x</p>"}]), id="html-only"),
    pytest.param(_set("content", [{"type": "text/plain", "value": "x"}, {"type": "text/html", "value": "y"},
                                  {"type": "text/calendar", "value": "z"}]), id="other-content-last"),
    pytest.param(_set("personalizations", [{"to": _recipients(500)}, {"to": _recipients(500)}]),
                 id="1000-recipients-same-addresses-in-two-personalizations"),
    pytest.param(_set("reply_to", {"email": "reply@example.com"}), id="reply-to"),
]


@pytest.mark.parametrize("change", VALID_CASES)
def test_valid_payloads_are_accepted(sendgrid, sendgrid_payload, change):
    payload = change(sendgrid_payload())
    sandbox = payload.get("mail_settings", {}).get("sandbox_mode", {}).get("enable") is True
    assert_accepted(sendgrid(payload), status=200 if sandbox else 202)


@pytest.fixture(scope="module")
def mail_send_schema():
    return mail_send_validator()


@pytest.mark.parametrize("change", VALID_CASES)
def test_payloads_the_fake_accepts_pass_the_official_schema(mail_send_schema, sendgrid_payload, change):
    mail_send_schema.validate(change(sendgrid_payload()))


def test_the_schema_check_is_not_vacuous(mail_send_schema, sendgrid_payload):
    with pytest.raises(jsonschema.ValidationError):
        mail_send_schema.validate(sendgrid_payload(categories=[f"c{i}" for i in range(11)]))
    with pytest.raises(jsonschema.ValidationError):
        mail_send_schema.validate(sendgrid_payload(**{"from": {"email": "not-an-email"}}))


def test_the_record_flattens_personalizations(fake, sendgrid, sendgrid_payload):
    assert_accepted(sendgrid(_rich_payload(sendgrid_payload())))

    [record] = fake.control.messages("sendgrid")
    assert record["to"] == ["A <a@example.com>", "a@example.com"]
    assert record["cc"] == ["c@example.com"]
    assert record["bcc"] == ["B <b@example.com>"]
    assert record["subject"] == "First"
    assert record["reply_to"] == "R1 <r1@example.com>, r2@example.com"
    assert record["headers"] == {"X-Campaign": "autumn", "X-Person": "a"}
    assert record["tags"] == ["welcome", "onboarding"]
    assert record["variables"] == {"order": "1"}
    assert record["attachments"] == [
        {"filename": "hello.txt", "content_type": "text/plain", "size": 5,
         "sha256": hashlib.sha256(b"hello").hexdigest()},
        {"filename": "logo.png", "content_type": "image/png", "size": 4,
         "sha256": hashlib.sha256(b"\x89PNG").hexdigest()},
    ]
