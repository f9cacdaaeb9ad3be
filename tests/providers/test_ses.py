"""Amazon SES adapter: exactly what is sent for every message in the table, valid against the sesv2 model, signed."""
import base64
import dataclasses
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser

import pytest
from responses import matchers

from fakeproviders.http11 import Request
from fakeproviders.ses import SesApi, SesError
from sendmailproxy.events.ses import to_events
from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers import Outcome, OutcomeKind, SesProvider
from sendmailproxy.providers.httptransport import USER_AGENT
from tests.providers.conftest import adapter, AWS_KEY_ID, AWS_SECRET, PDF
from tests.ses_model import problems

URL = "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails"
ACCEPTED = {"MessageId": "0100018c-ses-id"}
ANN, SENDER = "ann@example.com", "sender@example.com"
DESK = "Support Desk <desk@example.com>"
SIMPLE_MESSAGE = Message(sender=Address(SENDER), to=(Address(ANN),), subject="s", text="t")


def utf8(data):
    return {"Data": data, "Charset": "UTF-8"}


def mail(subject, text=None, html=None, to=(ANN,), sender=SENDER, destination=None, simple=None, **extra):
    body = {kind: utf8(data) for kind, data in (("Text", text), ("Html", html)) if data}
    return {"FromEmailAddress": sender, "Destination": destination or {"ToAddresses": list(to)},
            "Content": {"Simple": {"Subject": utf8(subject), "Body": body, **(simple or {})}}, **extra}


def ses_attachment(attachment):
    return {"FileName": attachment.filename, "ContentType": attachment.content_type, "ContentDisposition": "ATTACHMENT",
            "RawContent": base64.b64encode(attachment.content).decode()}


# The JSON each message of the table must become; attachments are added from the message (base64 of its bytes).
EXPECTED = {
    "single": mail("Hello", "Hi Ann"),
    "many_recipients": mail("Hello all", "Hi all", to=(ANN, "Bob Jones <bob@example.com>", "carol@example.com")),
    "cc_bcc": mail("Copies", "See copies", destination={
        "ToAddresses": [ANN], "CcAddresses": ["Bob Jones <bob@example.com>", "carol@example.com"],
        "BccAddresses": ["dave@example.com"]}),
    "html_only": mail("HTML", html="<p>Hi <b>Ann</b></p>"),
    "text_and_html": mail("Both", "Hi", "<p>Hi</p>"),
    "reply_to": mail("Reply", "Reply, please", ReplyToAddresses=[DESK]),
    "display_names": mail("Names", "Names", sender="Example News <news@example.com>",
                          to=('"Smith, John" <john@example.com>',
                              "=?utf-8?b?Wm/DqyDDnG7Dr2PDtmTDqQ==?= <zoe@example.com>")),
    "custom_headers": mail("Headers", "Headers", simple={"Headers": [
        {"Name": "X-Campaign", "Value": "spring-2025"}, {"Name": "X-Greeting", "Value": "=?utf-8?b?R3LDvMOfZQ==?="}]}),
    "tags": mail("Tags", "Tags", EmailTags=[{"Name": "tag1", "Value": "welcome"}, {"Name": "tag2", "Value": "onboarding"}]),
    "metadata": mail("Metadata", "Metadata", EmailTags=[
        {"Name": "tag1", "Value": "welcome"}, {"Name": "meta-customer", "Value": "c__77"},
        {"Name": "meta-note", "Value": "a_20_22quoted_22_20100_25_20_5C_20_2F"}, {"Name": "meta-order", "Value": "1234"}]),
    "attachments": mail("Files", "Two files"),
    "unicode": mail("Grüße aus Köln 🌍", "Привет, мир ✓", "<p>日本語のテキスト 🎉</p>",
                    sender="=?utf-8?q?=C3=89mile_Zola?= <sender@example.com>", to=("=?utf-8?b?5a6J5aau?= <ann@example.com>",)),
    "everything": mail("Everything ✓", "Plain ✓", "<p>Rich ✓</p>", sender="Example News <news@example.com>",
                       destination={"ToAddresses": [ANN, "Bob Jones <bob@example.com>"],
                                    "CcAddresses": ["carol@example.com"], "BccAddresses": ["dave@example.com"]},
                       simple={"Headers": [{"Name": "X-Campaign", "Value": "all"}]}, ReplyToAddresses=[DESK],
                       EmailTags=[{"Name": "tag1", "Value": "welcome"}, {"Name": "tag2", "Value": "digest"}]),
}


def verify_signature(prepared, key_id=AWS_KEY_ID, secret=AWS_SECRET, token=""):
    """Check a sent request's SigV4 signature the way the fake SES (and AWS) does; SesError if it is wrong."""
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    headers["host"] = prepared.url.split("/")[2]
    api = SesApi("eu-west-1", key_id, secret, token, "example.com", "")
    api._authenticate(Request("POST", "/" + prepared.url.split("/", 3)[3], "HTTP/1.1", headers, prepared.body))


def sent_json(call):
    return json.loads(call.request.body)


def test_send_posts_exactly_the_message_signed_and_valid_against_the_sesv2_model(case, message, rsps):
    expected = json.loads(json.dumps(EXPECTED[case]))
    if message.attachments:
        expected["Content"]["Simple"]["Attachments"] = [ses_attachment(a) for a in message.attachments]
    rsps.post(URL, json=ACCEPTED, match=[
        matchers.json_params_matcher(expected),
        matchers.header_matcher({"Content-Type": "application/json", "Accept": "application/json",
                                 "User-Agent": USER_AGENT}, strict_match=False)])

    outcome = adapter(SesProvider).send(message)

    assert outcome == Outcome(OutcomeKind.ACCEPTED, message_id="0100018c-ses-id", status=200)
    prepared = rsps.calls[0].request
    assert prepared.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/")
    assert "X-Amz-Security-Token" not in prepared.headers  # long-term keys carry no token
    verify_signature(prepared)
    assert problems(sent_json(rsps.calls[0])) == []


@pytest.mark.parametrize("value", ["plain-1", "a_b", "__", "_41", 'every printable: !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
                                   "=?utf-8?q?a?=", " leading and trailing "])
def test_metadata_comes_back_exactly_from_an_ses_event_of_what_was_sent(rsps, value):
    message = dataclasses.replace(SIMPLE_MESSAGE, tags=("welcome", "digest"),
                                  metadata=(("note", value), ("order", "1234")))
    rsps.post(URL, json=ACCEPTED)
    adapter(SesProvider).send(message)
    sent = sent_json(rsps.calls[0])
    SesApi("eu-west-1", AWS_KEY_ID, AWS_SECRET, "", "example.com", "")._validate(sent)  # SES's tag charset
    email_tags = sent["EmailTags"]
    # SES event publishing shows the EmailTags as mail.tags, beside its own.
    tags = {tag["Name"]: [tag["Value"]] for tag in email_tags} | {"ses:configuration-set": ["smsp"]}
    delivery = {"eventType": "Delivery", "delivery": {"timestamp": "2026-12-03T13:23:06.000Z", "recipients": [ANN]},
                "mail": {"timestamp": "2026-12-03T13:23:05.000Z", "messageId": "0100018c-ses-id",
                         "destination": [ANN], "tags": tags}}

    [event] = to_events(delivery, "sns-message-1")

    assert event.metadata == {"note": value, "order": "1234"}
    assert event.tags == ("welcome", "digest")


def test_the_body_is_utf8_json_not_escapes(rsps):
    rsps.post(URL, json=ACCEPTED)

    adapter(SesProvider).send(dataclasses.replace(SIMPLE_MESSAGE, text="Grüße ✓"))

    assert "Grüße ✓".encode() in rsps.calls[0].request.body


@pytest.mark.parametrize("check", [{"secret": "another-secret"}, {"key_id": "AKIAANOTHER000000001"},
                                   {"token": "a-session-token"}], ids=["secret", "key", "token"])
def test_the_signature_check_is_not_vacuous(rsps, check):
    rsps.post(URL, json=ACCEPTED)
    adapter(SesProvider).send(SIMPLE_MESSAGE)

    with pytest.raises(SesError):
        verify_signature(rsps.calls[0].request, **check)


def test_probe_sends_the_poll_message_to_the_mailbox_simulator(rsps):
    expected = mail("sendmailproxy probe",
                    "Circuit probe from sendmailproxy. Sent in the provider's test mode; not delivered.",
                    to=("success@simulator.amazonses.com",), sender="probe@example.com")
    rsps.post(URL, json=ACCEPTED, match=[matchers.json_params_matcher(expected)])

    assert adapter(SesProvider).probe().kind is OutcomeKind.ACCEPTED
    verify_signature(rsps.calls[0].request)


def test_the_configuration_set_is_named_when_set(rsps):
    rsps.post(URL, json=ACCEPTED)

    adapter(SesProvider, configuration_set="transactional").send(SIMPLE_MESSAGE)

    assert sent_json(rsps.calls[0])["ConfigurationSetName"] == "transactional"


MANY_HEADERS = tuple((f"X-H{n}", f"v{n}") for n in range(16))
LONG_HEADER = (("X-Long", "ü" * 400),)  # 995 characters are too few once encoded
LONG_TYPE = (PDF, Attachment("a.bin", "application/" + "x" * 80, b"\x00\x01"))


@pytest.mark.parametrize("change", [{"headers": MANY_HEADERS}, {"headers": LONG_HEADER}, {"attachments": LONG_TYPE}],
                         ids=["16 headers", "long non-ASCII header", "long content type"])
def test_what_simple_content_cannot_carry_goes_as_raw_mime(rsps, change):
    message = Message(sender=Address("news@example.com", "Example News"), to=(Address(ANN),),
                      cc=(Address("carol@example.com"),), bcc=(Address("dave@example.com"),),
                      reply_to=Address("desk@example.com", "Support Desk"), subject="Grüße ✓", text="Plain ✓",
                      html="<p>Rich ✓</p>", tags=("welcome",), **{"headers": (), "attachments": (PDF,), **change})
    rsps.post(URL, json=ACCEPTED)

    assert adapter(SesProvider).send(message).kind is OutcomeKind.ACCEPTED

    payload = sent_json(rsps.calls[0])
    assert problems(payload) == []
    assert payload["Destination"] == {"ToAddresses": [ANN], "CcAddresses": ["carol@example.com"],
                                      "BccAddresses": ["dave@example.com"]}
    assert "ReplyToAddresses" not in payload and payload["EmailTags"] == [{"Name": "tag1", "Value": "welcome"}]
    data = base64.b64decode(payload["Content"]["Raw"]["Data"])
    assert data.isascii() and max(map(len, data.split(b"\r\n"))) <= 1000
    mime = BytesParser(policy=policy.default).parsebytes(data)
    assert (mime["From"], mime["To"], mime["Cc"], mime["Reply-To"], mime["Subject"]) == (
        "Example News <news@example.com>", ANN, "carol@example.com", DESK, "Grüße ✓")
    assert mime["Bcc"] is None  # Bcc recipients are only in Destination
    assert (mime["Message-ID"], mime["Date"], mime["X-Tag"]) == (None, None, None)  # SES names and dates it; tags go in EmailTags
    assert [(name, str(mime[name])) for name, _ in message.headers] == list(message.headers)
    assert mime.get_body(("plain",)).get_content() == "Plain ✓\r\n"
    assert mime.get_body(("html",)).get_content() == "<p>Rich ✓</p>\r\n"
    assert [(part.get_filename(), part.get_content_type(), part.get_content()) for part in mime.iter_attachments()] \
        == [(a.filename, a.content_type, a.content) for a in message.attachments]


def expiring_credentials(path, key_id, secret, token, minutes=12):
    expires = (datetime.now(timezone.utc) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps({"Version": 1, "AccessKeyId": key_id, "SecretAccessKey": secret,
                                "SessionToken": token, "Expiration": expires}))


def test_expiring_credentials_are_read_again_without_a_restart(rsps, monkeypatch, tmp_path):
    # The real chain: a profile whose credential_process prints temporary credentials from a file. They expire
    # in 12 minutes, inside botocore's 15-minute advisory window, so every call looks for fresh ones.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    state, aws_config = tmp_path / "credentials.json", tmp_path / "aws-config"
    aws_config.write_text(f"[default]\ncredential_process = {sys.executable} -c "
                          f"\"import sys; print(open(sys.argv[1]).read())\" {state}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    expiring_credentials(state, "ASIAFIRST00000000001", "first-secret", "first-token")
    rsps.post(URL, json=ACCEPTED)
    rsps.post(URL, json=ACCEPTED)
    provider = adapter(SesProvider)

    provider.send(SIMPLE_MESSAGE)
    expiring_credentials(state, "ASIASECOND0000000002", "second-secret", "second-token", minutes=60)
    provider.send(SIMPLE_MESSAGE)

    first, second = (call.request for call in rsps.calls)
    verify_signature(first, "ASIAFIRST00000000001", "first-secret", "first-token")
    verify_signature(second, "ASIASECOND0000000002", "second-secret", "second-token")


def test_no_credentials_is_not_accepted_needs_an_operator_and_sends_nothing(rsps, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    provider = adapter(SesProvider)

    outcome = provider.send(SIMPLE_MESSAGE)

    assert outcome.kind is OutcomeKind.NOT_ACCEPTED and outcome.needs_an_operator
    assert "NoCredentialsError" in outcome.reason
    assert len(rsps.calls) == 0
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)  # the chain is looked up again: no restart needed
    rsps.post(URL, json=ACCEPTED)
    assert provider.send(SIMPLE_MESSAGE).kind is OutcomeKind.ACCEPTED


def test_every_call_has_the_timeouts(rsps):
    rsps.post(URL, json=ACCEPTED)

    adapter(SesProvider).send(SIMPLE_MESSAGE)

    assert rsps.calls[0].request.req_kwargs["timeout"] == (2.0, 2.0)


def test_repr_names_the_region():
    assert repr(adapter(SesProvider)) == ("SesProvider(base_url='https://email.eu-west-1.amazonaws.com', "
                                         "region='eu-west-1')")


def test_signing_takes_the_time_of_each_call(rsps):
    rsps.post(URL, json=ACCEPTED)
    before = time.strftime("%Y%m%dT%H%M", time.gmtime())

    adapter(SesProvider).send(SIMPLE_MESSAGE)

    assert rsps.calls[0].request.headers["X-Amz-Date"][:13] >= before
