"""The fake SES answers as docs/providers/ses.md says the real one does, and checks SigV4 with botocore."""

import base64
from email.message import EmailMessage

import pytest

from sendmailproxy.config import Config
from sendmailproxy.providers import OutcomeKind
from sendmailproxy.service import build_providers
from tests.providers.conftest import MESSAGES

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess


def assert_error(response, status, code, message_has=""):
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"].split(":")[0] == code
    assert message_has in response.json()["message"]


def test_accepts_a_signed_message_with_a_message_id(fake, ses, ses_payload):
    response = ses(ses_payload(EmailTags=[{"Name": "tag1", "Value": "welcome"}]))

    assert response.status_code == 200
    [record] = fake.control.messages("ses")
    assert record["id"] == response.json()["MessageId"] and record["probe"] is False
    assert (record["from"], record["to"], record["subject"], record["text"], record["html"], record["tags"]) == (
        "Sender <sender@example.com>", ["Rcpt <rcpt@example.com>"], "Hello", "Hello there", "<p>Hello there</p>",
        ["welcome"])


def test_mail_to_the_simulator_is_a_probe(fake, ses, ses_payload):
    assert ses(ses_payload(Destination={"ToAddresses": ["success@simulator.amazonses.com"]})).status_code == 200

    assert fake.control.messages("ses") == []
    assert len(fake.control.messages("ses", probes=True)) == 1


@pytest.mark.parametrize("change, status, code", [
    ({"signed": False}, 403, "MissingAuthenticationTokenException"),
    ({"secret": "wrong-secret"}, 403, "InvalidSignatureException"),
    ({"key_id": "AKIAUNKNOWN000000000"}, 403, "UnrecognizedClientException"),
    ({"region": "eu-west-1"}, 403, "InvalidSignatureException"),
    ({"tamper": b'{"Content": {}}'}, 403, "InvalidSignatureException"),
    ({"headers": {"X-Amz-Date": "20200101T000000Z"}}, 403, "InvalidSignatureException"),
    ({"headers": {"X-Amz-Security-Token": "stolen"}}, 403, "UnrecognizedClientException"),
    ({"headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=garbage"}}, 400, "IncompleteSignatureException"),
])
def test_only_a_valid_signature_for_ses_in_its_region_is_accepted(fake, ses, ses_payload, change, status, code):
    response = ses(ses_payload(), **change)

    assert_error(response, status, code)
    assert fake.control.messages(probes=None) == []


def test_only_verified_identities_may_send(fake, ses, ses_payload):
    response = ses(ses_payload(FromEmailAddress="someone@unverified.example"))

    assert_error(response, 400, "MessageRejected", "Email address is not verified")


@pytest.mark.parametrize("change, status, code", [
    ({"Content": None}, 400, "BadRequestException"),
    ({"Content": {"Simple": {"Subject": {"Data": "s"}}}}, 400, "BadRequestException"),
    ({"Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {}}}}, 400, "BadRequestException"),
    ({"Destination": {}}, 400, "BadRequestException"),
    ({"Destination": {"ToAddresses": [f"r{n}@example.com" for n in range(51)]}}, 400, "MessageRejected"),
    ({"EmailTags": [{"Name": "tag1", "Value": "has space"}]}, 400, "BadRequestException"),
    ({"ConfigurationSetName": "missing"}, 404, "NotFoundException"),
    ({"Surprise": 1}, 400, "BadRequestException"),
])
def test_payloads_the_model_or_the_account_refuse(ses, ses_payload, change, status, code):
    assert_error(ses(ses_payload(**change)), status, code)


def test_simple_headers_must_be_few_and_printable(ses, ses_payload):
    headers = [{"Name": f"X-H{n}", "Value": "v"} for n in range(16)]
    payload = ses_payload()
    payload["Content"]["Simple"]["Headers"] = headers

    assert_error(ses(payload), 400, "BadRequestException")


def test_raw_mime_is_accepted_with_bcc_from_the_destination(fake, ses, ses_payload):
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"], mime["X-Order"] = "sender@example.com", "a@example.com", "Raw", "7"
    mime.set_content("plain")
    mime.add_attachment(b"\x00\x01", "application", "octet-stream", filename="a.bin")
    payload = ses_payload(Content={"Raw": {"Data": base64.b64encode(mime.as_bytes()).decode()}},
                          Destination={"ToAddresses": ["a@example.com"], "BccAddresses": ["b@example.com"]})

    assert ses(payload).status_code == 200

    [record] = fake.control.messages("ses")
    assert (record["to"], record["bcc"], record["subject"], record["headers"]) == (
        ["a@example.com"], ["b@example.com"], "Raw", {"X-Order": "7"})
    assert [a["filename"] for a in record["attachments"]] == ["a.bin"]


@pytest.mark.parametrize("error, status, code", [
    ("suspended", 400, "AccountSuspendedException"), ("paused", 400, "SendingPausedException"),
    ("not_allowed", 400, "MessageRejected"), ("bad_token", 403, "UnrecognizedClientException"),
])
def test_account_faults_answer_as_ses(fake, ses, ses_payload, error, status, code):
    fake.control.set_fault("ses", "account", error=error)

    assert_error(ses(ses_payload()), status, code)


def test_rate_limit_fault_is_too_many_requests_without_headers(fake, ses, ses_payload):
    fake.control.set_fault("ses", "status", status=429)

    response = ses(ses_payload())

    assert_error(response, 429, "TooManyRequestsException", "Maximum sending rate exceeded.")
    assert "Retry-After" not in response.headers


def test_the_adapter_sends_every_message_of_the_table_and_the_probe_through_the_fake(fake, monkeypatch):
    for name, value in fake.service_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    config = Config.from_env({**fake.service_env(), "SMSP_API_KEY": "k", "SMSP_PROVIDERS": "ses",
                              "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com"})
    [provider] = build_providers(config)

    outcomes = {case: provider.send(message) for case, message in MESSAGES.items()}

    assert {case: outcome.kind for case, outcome in outcomes.items()} == dict.fromkeys(MESSAGES, OutcomeKind.ACCEPTED)
    assert provider.probe().kind is OutcomeKind.ACCEPTED
    records = fake.control.messages("ses")
    assert [record["subject"] for record in records] == [message.subject for message in MESSAGES.values()]
    everything = records[-1]
    assert (everything["bcc"], everything["tags"], everything["headers"]) == (
        ["dave@example.com"], ["welcome", "digest"], {"X-Campaign": "all"})
    [metadata] = [record for record in records if record["subject"] == "Metadata"]
    assert (metadata["tags"], metadata["variables"]) == (["welcome"], {
        "tag1": "welcome", "meta-customer": "c__77", "meta-note": "a_20_22quoted_22_20100_25_20_5C_20_2F",
        "meta-order": "1234"})
    assert len(fake.control.messages("ses", probes=True)) == 1
