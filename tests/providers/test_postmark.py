"""Postmark adapter: exactly what is sent for every message in the table, valid against Postmark's published schema."""
import base64
import json

import pytest
from responses import matchers

from sendmailproxy.message import Address, Message
from sendmailproxy.providers import Outcome, OutcomeKind, PostmarkProvider
from sendmailproxy.providers.httptransport import USER_AGENT
from tests.providers.conftest import SETTINGS, adapter
from tests.postmark_spec import send_email_validator

URL = "https://api.postmarkapp.com/email"
OK = {"To": "ann@example.com", "SubmittedAt": "2026-11-28T10:00:00Z", "MessageID": "b7bc2f4a-e38e-4336-af7d",
      "ErrorCode": 0, "Message": "OK"}
ANN, SENDER = "ann@example.com", "sender@example.com"
DESK = "Support Desk <desk@example.com>"


def mail(subject, text=None, html=None, to=ANN, sender=SENDER, **extra):
    bodies = {kind: body for kind, body in (("TextBody", text), ("HtmlBody", html)) if body}
    return {"From": sender, "To": to, "Subject": subject, **bodies, **extra, "MessageStream": "outbound"}


def tagged(*tags):
    return {"Tag": tags[0], "Metadata": {f"tag{n}": tag for n, tag in enumerate(tags, 1)}}


# The JSON each message of the table must become; attachments are added from the message (base64 of its bytes).
EXPECTED = {
    "single": mail("Hello", "Hi Ann"),
    "many_recipients": mail("Hello all", "Hi all", to="ann@example.com, Bob Jones <bob@example.com>, carol@example.com"),
    "cc_bcc": mail("Copies", "See copies", Cc="Bob Jones <bob@example.com>, carol@example.com", Bcc="dave@example.com"),
    "html_only": mail("HTML", html="<p>Hi <b>Ann</b></p>"),
    "text_and_html": mail("Both", "Hi", "<p>Hi</p>"),
    "reply_to": mail("Reply", "Reply, please", ReplyTo=DESK),
    "display_names": mail("Names", "Names", sender="Example News <news@example.com>",
                          to='"Smith, John" <john@example.com>, =?utf-8?b?Wm/DqyDDnG7Dr2PDtmTDqQ==?= <zoe@example.com>'),
    "custom_headers": mail("Headers", "Headers", Headers=[{"Name": "X-Campaign", "Value": "spring-2025"},
                                                         {"Name": "X-Greeting", "Value": "Grüße"}]),
    "tags": mail("Tags", "Tags", **tagged("welcome", "onboarding")),
    "metadata": mail("Metadata", "Metadata", Tag="welcome", Metadata={
        "tag1": "welcome", "customer": "c_77", "note": 'a "quoted" 100% \\ /', "order": "1234"}),
    "attachments": mail("Files", "Two files"),
    "unicode": mail("Grüße aus Köln 🌍", "Привет, мир ✓", "<p>日本語のテキスト 🎉</p>",
                    sender="=?utf-8?q?=C3=89mile_Zola?= <sender@example.com>", to="=?utf-8?b?5a6J5aau?= <ann@example.com>"),
    "everything": mail("Everything ✓", "Plain ✓", "<p>Rich ✓</p>", sender="Example News <news@example.com>",
                       to="ann@example.com, Bob Jones <bob@example.com>", Cc="carol@example.com", Bcc="dave@example.com",
                       ReplyTo=DESK, Headers=[{"Name": "X-Campaign", "Value": "all"}], **tagged("welcome", "digest")),
}


@pytest.fixture(scope="module")
def schema_validator():
    return send_email_validator()


def headers_matcher():
    return matchers.header_matcher(
        {"X-Postmark-Server-Token": SETTINGS["postmark"].server_token, "Content-Type": "application/json",
         "Accept": "application/json", "User-Agent": USER_AGENT},
        strict_match=False,
    )


def test_send_posts_exactly_the_message(case, message, rsps, schema_validator):
    expected = dict(EXPECTED[case])
    if message.attachments:
        expected["Attachments"] = [{"Name": a.filename, "Content": base64.b64encode(a.content).decode(),
                                    "ContentType": a.content_type} for a in message.attachments]
    rsps.post(URL, json=OK, match=[headers_matcher(), matchers.json_params_matcher(expected)])

    outcome = adapter(PostmarkProvider).send(message)

    assert outcome == Outcome(OutcomeKind.ACCEPTED, "OK", message_id=OK["MessageID"], status=200)
    schema_validator.validate(json.loads(rsps.calls[0].request.body))


def test_probe_sends_the_poll_message_to_the_blackhole(rsps, schema_validator):
    expected = mail("sendmailproxy probe",
                    "Circuit probe from sendmailproxy. Sent in the provider's test mode; not delivered.",
                    to="test@blackhole.postmarkapp.com", sender="probe@example.com")
    rsps.post(URL, json=OK, match=[headers_matcher(), matchers.json_params_matcher(expected)])

    assert adapter(PostmarkProvider).probe().kind is OutcomeKind.ACCEPTED
    schema_validator.validate(json.loads(rsps.calls[0].request.body))


def test_the_message_stream_is_the_configured_one(rsps):
    rsps.post(URL, json=OK)

    adapter(PostmarkProvider, message_stream="broadcast").send(Message(sender=Address(SENDER), to=(Address(ANN),), subject="s", text="t"))

    assert json.loads(rsps.calls[0].request.body)["MessageStream"] == "broadcast"


def test_the_body_is_utf8_json_not_escapes(rsps):
    rsps.post(URL, json=OK)

    adapter(PostmarkProvider).send(Message(sender=Address(SENDER), to=(Address(ANN),), subject="s", text="日本語"))

    assert "日本語".encode() in rsps.calls[0].request.body


def test_the_schema_check_is_not_vacuous(schema_validator):
    invalid = mail("s", "t") | {"To": ["ann@example.com"], "Headers": {"X-A": "b"}}

    assert len(list(schema_validator.iter_errors(invalid))) == 2


def test_repr_has_no_token():
    assert repr(adapter(PostmarkProvider)) == "PostmarkProvider(base_url='https://api.postmarkapp.com')"
