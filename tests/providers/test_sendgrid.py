"""SendGrid adapter: exactly what is sent for every message in the table, valid against SendGrid's own schema."""
import base64
import json

import pytest
from responses import matchers

from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers import Outcome, OutcomeKind, SendGridProvider
from sendmailproxy.providers.httptransport import USER_AGENT
from tests.providers.conftest import SETTINGS, adapter
from tests.sendgrid_spec import mail_send_validator

URL = "https://api.sendgrid.com/v3/mail/send"

ANN = {"email": "ann@example.com"}
BOB = {"email": "bob@example.com", "name": "Bob Jones"}
SENDER = {"email": "sender@example.com"}
DESK = {"email": "desk@example.com", "name": "Support Desk"}


def mail(subject, text=None, html=None, to=(ANN,), sender=SENDER, **extra):
    content = [{"type": t, "value": v} for t, v in (("text/plain", text), ("text/html", html)) if v]
    return {"personalizations": [{"to": list(to)}], "from": sender, "subject": subject, "content": content, **extra}


# The JSON each message of the table must become; attachments are added from the message (base64 of its bytes).
EXPECTED = {
    "single": mail("Hello", "Hi Ann"),
    "many_recipients": mail("Hello all", "Hi all", to=(ANN, BOB, {"email": "carol@example.com"})),
    "cc_bcc": mail("Copies", "See copies") | {"personalizations": [
        {"to": [ANN], "cc": [BOB, {"email": "carol@example.com"}], "bcc": [{"email": "dave@example.com"}]}]},
    "html_only": mail("HTML", html="<p>Hi <b>Ann</b></p>"),
    "text_and_html": mail("Both", "Hi", "<p>Hi</p>"),
    "reply_to": mail("Reply", "Reply, please", reply_to=DESK),
    "display_names": mail("Names", "Names", sender={"email": "news@example.com", "name": "Example News"},
                          to=({"email": "john@example.com", "name": "Smith, John"},
                              {"email": "zoe@example.com", "name": "Zoë Ünïcödé"})),
    "custom_headers": mail("Headers", "Headers", headers={"X-Campaign": "spring-2025", "X-Greeting": "Grüße"}),
    "tags": mail("Tags", "Tags", categories=["welcome", "onboarding"]),
    "metadata": mail("Metadata", "Metadata", categories=["welcome"]) | {"personalizations": [
        {"to": [ANN], "custom_args": {"customer": "c_77", "note": 'a "quoted" 100% \\ /', "order": "1234"}}]},
    "attachments": mail("Files", "Two files"),
    "unicode": mail("Grüße aus Köln 🌍", "Привет, мир ✓", "<p>日本語のテキスト 🎉</p>",
                    sender={"email": "sender@example.com", "name": "Émile Zola"},
                    to=({"email": "ann@example.com", "name": "安妮"},)),
    "everything": mail("Everything ✓", "Plain ✓", "<p>Rich ✓</p>",
                       sender={"email": "news@example.com", "name": "Example News"}, reply_to=DESK,
                       headers={"X-Campaign": "all"}, categories=["welcome", "digest"]) | {"personalizations": [
        {"to": [ANN, BOB], "cc": [{"email": "carol@example.com"}], "bcc": [{"email": "dave@example.com"}]}]},
}


@pytest.fixture(scope="module")
def schema_validator():
    return mail_send_validator()


def sendgrid_attachment(attachment):
    return {"content": base64.b64encode(attachment.content).decode(), "filename": attachment.filename,
            "type": attachment.content_type, "disposition": "attachment"}


def headers_matcher():
    return matchers.header_matcher(
        {"Authorization": f"Bearer {SETTINGS['sendgrid'].api_key}", "Content-Type": "application/json",
         "Accept": "application/json", "User-Agent": USER_AGENT},
        strict_match=False,
    )


def test_send_posts_exactly_the_message(case, message, rsps, schema_validator):
    expected = dict(EXPECTED[case])
    if message.attachments:
        expected["attachments"] = [sendgrid_attachment(a) for a in message.attachments]
    rsps.post(URL, status=202, headers={"X-Message-Id": "abc123"},
              match=[headers_matcher(), matchers.json_params_matcher(expected)])

    outcome = adapter(SendGridProvider).send(message)

    assert outcome == Outcome(OutcomeKind.ACCEPTED, message_id="abc123", status=202)
    schema_validator.validate(json.loads(rsps.calls[0].request.body))


def test_probe_sends_the_poll_message_in_sandbox_mode(rsps, schema_validator):
    expected = mail("sendmailproxy probe",
                    "Circuit probe from sendmailproxy. Sent in the provider's test mode; not delivered.",
                    to=({"email": "probe@example.com"},), sender={"email": "probe@example.com"},
                    mail_settings={"sandbox_mode": {"enable": True}})
    rsps.post(URL, status=200, match=[headers_matcher(), matchers.json_params_matcher(expected)])

    assert adapter(SendGridProvider).probe() == Outcome(OutcomeKind.ACCEPTED, status=200)
    schema_validator.validate(json.loads(rsps.calls[0].request.body))


def test_binary_attachment_is_base64_of_the_exact_bytes(rsps):
    content = bytes(range(256)) + b"\xff\xfe\x00"
    message = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t",
                      attachments=(Attachment("pixel.bin", "application/octet-stream", content),))
    rsps.post(URL, status=202)

    adapter(SendGridProvider).send(message)

    (sent,) = json.loads(rsps.calls[0].request.body)["attachments"]
    assert base64.b64decode(sent["content"], validate=True) == content


def test_duplicate_tags_become_unique_categories(rsps, schema_validator):
    message = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t",
                      tags=("a", "b", "a"))
    rsps.post(URL, status=202)

    adapter(SendGridProvider).send(message)

    payload = json.loads(rsps.calls[0].request.body)
    assert payload["categories"] == ["a", "b"]
    schema_validator.validate(payload)


def test_the_schema_check_is_not_vacuous(schema_validator):
    invalid = mail("", "text") | {"from": {"name": "no email"}}

    assert len(list(schema_validator.iter_errors(invalid))) == 2


def test_every_call_has_the_timeouts(rsps):
    rsps.post(URL, status=202)

    adapter(SendGridProvider).send(Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s",
                                          text="t"))

    assert rsps.calls[0].request.req_kwargs["timeout"] == (2.0, 2.0)


def test_repr_has_no_key():
    assert repr(adapter(SendGridProvider)) == "SendGridProvider(base_url='https://api.sendgrid.com')"
