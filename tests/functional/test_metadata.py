"""Metadata through real gunicorn: sent to each provider's fake as that provider's custom data, it comes back
exactly in the signed webhook the fake posts, as the service's own verifiers read it.

The webhook routes (POST /webhooks/<provider>, engineer A's) are not on this branch yet: the fakes post to a
local receiver here. Once they are, post to the service instead and read the event back from GET /events.
"""
from __future__ import annotations

import pytest

from sendmailproxy.events.mailgun import MailgunWebhook
from sendmailproxy.events.postmark import PostmarkWebhook
from sendmailproxy.events.sendgrid import SendGridWebhook, load_public_key
from sendmailproxy.events.ses import SesWebhook
from sendmailproxy.events.sns import SnsVerifier
from tests.fakeproviders.test_fake_webhooks import MAX_AGE, Receiver, received

pytestmark = pytest.mark.functional

METADATA = {"order": "1234", "note": 'Any printable ASCII: "100%" _ok_ \\ / =?x?=', "customer-id": "c_77"}
POSTMARK_CREDENTIALS = {"username": "pm", "password": "pm-secret"}
# Each provider's verifier, from the keys its fake signs with (GET /webhooks/keys).
WEBHOOKS = {
    "mailgun": lambda keys: MailgunWebhook(keys["mailgun"]["signing_key"], MAX_AGE),
    "sendgrid": lambda keys: SendGridWebhook(load_public_key(keys["sendgrid"]["public_key"]), MAX_AGE),
    "ses": lambda keys: SesWebhook((keys["ses"]["topic_arn"],), SnsVerifier(keys["ses"]["cert_url_prefix"]), MAX_AGE),
    "postmark": lambda keys: PostmarkWebhook(**POSTMARK_CREDENTIALS),
}


@pytest.fixture
def receiver(monkeypatch, clean_fake):
    """Where the fakes post; the SNS certificate is fetched from the fake SES, trusted as the service trusts it."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", clean_fake.options["smtp_ca_file"])
    server = Receiver()
    yield server
    server.close()


@pytest.mark.parametrize("provider", WEBHOOKS)
def test_metadata_sent_through_the_service_comes_back_in_the_providers_webhook(start_service, clean_fake, receiver,
                                                                              provider):
    service = start_service(SMSP_PROVIDERS=provider, WEB_CONCURRENCY=1)

    sent = service.send(toaddress=["ann@example.com", "bob@example.com"], tags=["welcome"], metadata=METADATA)

    assert sent.status_code == 200, sent.text
    [record] = clean_fake.control.messages(provider)
    message_id = sent.json()["id"]
    answers = clean_fake.control.post_webhook(receiver.url + provider, message_id, "delivered",
                                              **(POSTMARK_CREDENTIALS if provider == "postmark" else {}))
    assert answers and all(answer["status"] == 200 for answer in answers)
    events = received(receiver, WEBHOOKS[provider](clean_fake.control.webhook_keys()))
    assert sorted((e.type, e.recipient, e.message_id) for e in events) == [
        ("delivered", "ann@example.com", message_id), ("delivered", "bob@example.com", message_id)]
    assert all(e.metadata == METADATA and e.tags == ("welcome",) for e in events), (record["variables"], events)


def test_metadata_through_the_relay_is_one_json_header(start_service, clean_fake):
    service = start_service(SMSP_PROVIDERS="smtp", WEB_CONCURRENCY=1)

    assert service.send(tags=["welcome"], metadata=METADATA).status_code == 200

    [record] = clean_fake.control.messages("smtp")
    assert (record["tags"], record["variables"]) == (["welcome"], METADATA)
