"""The fake Postmark answers as docs/providers/postmark.md says the real one does: ErrorCodes, not just statuses."""

import pytest

from sendmailproxy.config import Config
from sendmailproxy.providers import OutcomeKind
from sendmailproxy.service import build_providers
from tests.providers.conftest import MESSAGES

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess


def assert_error(response, status, code, message_has=""):
    assert response.status_code == status, response.text
    assert response.json()["ErrorCode"] == code
    assert message_has in response.json()["Message"]


def test_accepts_a_message_with_error_code_0_and_a_message_id(fake, postmark, postmark_payload):
    response = postmark(postmark_payload(Tag="welcome", Metadata={"tag1": "welcome"}))

    assert response.status_code == 200
    body = response.json()
    assert (body["ErrorCode"], body["Message"], body["To"]) == (0, "OK", "Rcpt <rcpt@example.com>")
    [record] = fake.control.messages("postmark")
    assert record["id"] == body["MessageID"] and record["probe"] is False
    assert (record["from"], record["to"], record["subject"], record["tags"], record["variables"]) == (
        "Sender <sender@example.com>", ["Rcpt <rcpt@example.com>"], "Hello", ["welcome"], {"tag1": "welcome"})


def test_mail_to_the_blackhole_is_a_probe(fake, postmark, postmark_payload):
    assert postmark(postmark_payload(To="test@blackhole.postmarkapp.com")).status_code == 200

    assert fake.control.messages("postmark") == []
    assert len(fake.control.messages("postmark", probes=True)) == 1


def test_the_test_token_validates_delivers_nothing_and_checks_no_account_settings(fake, postmark, postmark_payload):
    response = postmark(postmark_payload(From="a@unconfirmed.example"), token="POSTMARK_API_TEST")

    assert (response.status_code, response.json()["Message"]) == (200, "Test job accepted")
    assert fake.control.messages("postmark") == []


@pytest.mark.parametrize("token, message", [("wrong", "was invalid"), ("", "No Account or Server API tokens")])
def test_a_bad_or_missing_token_is_401_error_code_10(postmark, postmark_payload, token, message):
    assert_error(postmark(postmark_payload(), token=token), 401, 10, message)


@pytest.mark.parametrize("change, code", [
    ({"To": None}, 300), ({"To": "not-an-address"}, 300), ({"TextBody": None, "HtmlBody": None}, 300),
    ({"To": ", ".join(f"r{n}@example.com" for n in range(51))}, 300),
    ({"From": "a@unconfirmed.example"}, 400), ({"MessageStream": "nosuch"}, 1235),
    ({"To": ["rcpt@example.com"]}, 403), ({"Headers": {"X-A": "b"}}, 403),
    ({"Attachments": [{"Name": "run.exe", "Content": "AAEC", "ContentType": "application/octet-stream"}]}, 411),
    ({"To": "inactive@example.com"}, 406),
    ({"Metadata": {f"k{n}": "v" for n in range(11)}}, 300), ({"Metadata": {"k" * 21: "v"}}, 300),
    ({"Metadata": {"k": "v" * 81}}, 300),
])
def test_payloads_postmark_refuses_with_its_error_code(fake, postmark, postmark_payload, change, code):
    assert_error(postmark(postmark_payload(**change)), 422, code)
    assert fake.control.messages(probes=None) == []


def test_some_inactive_recipients_is_a_partial_success(fake, postmark, postmark_payload):
    response = postmark(postmark_payload(To="inactive@example.com, rcpt@example.com"))

    assert (response.status_code, response.json()["ErrorCode"]) == (200, 0)
    assert response.json()["Message"].startswith("Message OK, but will not deliver to these inactive addresses")


def test_not_json_is_error_code_409_and_broken_json_402(postmark):
    assert_error(postmark(data="{", headers={"Content-Type": "text/plain"}), 422, 409)
    assert_error(postmark(data="{", headers={"Content-Type": "application/json"}), 422, 402)


@pytest.mark.parametrize("error, status, code", [
    ("bad_token", 401, 10), ("not_allowed", 422, 405), ("paused", 422, 412), ("suspended", 422, 413),
])
def test_account_faults_answer_with_postmarks_error_codes(fake, postmark, postmark_payload, error, status, code):
    fake.control.set_fault("postmark", "account", error=error)

    assert_error(postmark(postmark_payload()), status, code)


@pytest.mark.parametrize("status, code", [(429, 429), (503, 100), (422, 300)])
def test_status_faults_carry_an_error_code(fake, postmark, postmark_payload, status, code):
    fake.control.set_fault("postmark", "status", status=status)

    assert_error(postmark(postmark_payload()), status, code)


def test_a_403_fault_is_the_security_layers_html(fake, postmark, postmark_payload):
    fake.control.set_fault("postmark", "status", status=403)

    response = postmark(postmark_payload())

    assert response.status_code == 403 and response.headers["Content-Type"].startswith("text/html")


def test_the_adapter_sends_every_message_of_the_table_and_the_probe_through_the_fake(fake):
    config = Config.from_env({**fake.service_env(), "SMSP_API_KEY": "k", "SMSP_PROVIDERS": "postmark",
                              "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com"})
    [provider] = build_providers(config)

    outcomes = {case: provider.send(message) for case, message in MESSAGES.items()}

    assert {case: outcome.kind for case, outcome in outcomes.items()} == dict.fromkeys(MESSAGES, OutcomeKind.ACCEPTED)
    assert provider.probe().kind is OutcomeKind.ACCEPTED
    records = fake.control.messages("postmark")
    assert [record["subject"] for record in records] == [message.subject for message in MESSAGES.values()]
    everything = records[-1]
    assert (everything["bcc"], everything["tags"], everything["variables"]) == (
        ["dave@example.com"], ["welcome"], {"tag1": "welcome", "tag2": "digest"})
    assert [a["size"] for a in everything["attachments"]] == [len(a.content) for a in MESSAGES["everything"].attachments]
    [metadata] = [record for record in records if record["subject"] == "Metadata"]
    assert (metadata["tags"], metadata["variables"]) == (["welcome"], {
        "tag1": "welcome", "customer": "c_77", "note": 'a "quoted" 100% \\ /', "order": "1234"})
    assert len(fake.control.messages("postmark", probes=True)) == 1
