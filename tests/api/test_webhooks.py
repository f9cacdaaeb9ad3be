"""POST /webhooks/<provider> through the Flask test client, with real signatures made by keys made here: what is
stored (once), what suppresses, and every refusal storing nothing."""
from __future__ import annotations

import dataclasses
import io
import time

import pytest

from fakeproviders.signing import SendGridSigner, SnsSigner, json_body
from sendmailproxy.config import Config
from sendmailproxy.events.model import rfc3339
from sendmailproxy.events.postmark import to_event
from sendmailproxy.events.settings import WebhookSettings, enabled_webhooks
from sendmailproxy.suppression.store import Entry
from sendmailproxy.webhooks import PROVIDERS
from tests.api.spec_check import validate
from tests.api.support import KEY, MAX_BODY_BYTES
from tests.events.conftest import (
    CERT_PATH,
    MG_KEY,
    PM_PASSWORD,
    PM_USER,
    TOPIC,
    mailgun_post,
    postmark_headers,
    sendgrid_post,
    sns_notification,
)
from tests.events.payloads import (
    RECIPIENT,
    mailgun_event,
    mailgun_failed,
    postmark_bounce,
    sendgrid_event,
    ses_bounce,
)

MESSAGE_ID = "<20261203113320.1.abc@mg.example.com>"  # the id the Mailgun payloads' events are for


@pytest.fixture(scope="module")
def sendgrid_signer():
    return SendGridSigner()


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch, ca, tmp_path):
    """No proxy from the machine; the test CA as SSL_CERT_FILE, as the service would be given it."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))


@pytest.fixture
def webhooks(sendgrid_signer, cert_server, sns_signer) -> WebhookSettings:
    return WebhookSettings(mailgun_signing_key=MG_KEY, sendgrid_public_key=sendgrid_signer.public_key,
                           ses_topic_arns=(TOPIC,), ses_cert_url_prefix=cert_server.prefix,
                           postmark_username=PM_USER, postmark_password=PM_PASSWORD)


@pytest.fixture
def changes() -> dict:
    """What a test changes in the config below (parametrize it)."""
    return {}


@pytest.fixture
def config(tmp_path, webhooks, changes) -> Config:
    return dataclasses.replace(Config(api_keys=(KEY,), poll_interval=60.0, max_body_bytes=MAX_BODY_BYTES,
                                      webhooks=webhooks, idempotency_store=f"sqlite://{tmp_path}/store.sqlite3"),
                               **changes)


@pytest.fixture
def service(app):
    return app.extensions["sendmailproxy"]


def stored(service) -> list:
    """Every event in the feed, oldest first."""
    return service.events.feed(None, 1000)[0]


def listed(service, *addresses) -> dict[str, Entry]:
    return service.suppressions.lookup(addresses or [RECIPIENT])


def nothing_kept(service) -> bool:
    return stored(service) == [] and listed(service) == {}


def now_stamp() -> str:
    return rfc3339(time.time())


# -- each provider: stored, deduped, suppressing -----------------------------------------------------------------

def test_a_mailgun_bounce_is_stored_and_suppresses_its_recipient(client, service):
    event = mailgun_failed("permanent", 550, "5.1.1 user unknown")
    response = client.post("/webhooks/mailgun", data=mailgun_post(event, time.time()),
                           content_type="application/json")
    assert response.status_code == 200 and response.get_json() == {"received": 1, "stored": 1}
    [bounced] = stored(service)
    assert (bounced.type, bounced.provider, bounced.message_id, bounced.recipient) == (
        "bounced", "mailgun", MESSAGE_ID, RECIPIENT.lower())
    assert listed(service) == {RECIPIENT.lower(): Entry(
        address=RECIPIENT.lower(), reason="bounced", provider="mailgun", since=bounced.occurred_at,
        event_id=bounced.id, note=bounced.reason)}


def test_a_mailgun_post_repeated_is_a_duplicate_and_its_token_with_another_body_is_refused(client, service):
    signed_at = time.time()
    body = mailgun_post(mailgun_event("delivered"), signed_at, token="a" * 50)
    assert client.post("/webhooks/mailgun", data=body).get_json() == {"received": 1, "stored": 1}
    assert client.post("/webhooks/mailgun", data=body).get_json() == {"received": 1, "stored": 0}
    other = mailgun_post(mailgun_failed("permanent", 550, "5.1.1 user unknown", reason="bounce") | {"id": "other"},
                         signed_at, token="a" * 50)
    refused = client.post("/webhooks/mailgun", data=other)
    assert refused.status_code == 401 and "token" in refused.get_json()["message"]
    assert [e.type for e in stored(service)] == ["delivered"] and listed(service) == {}


def test_a_mailgun_event_signed_again_with_a_new_token_is_stored_once(client, service):
    for token in ("b" * 50, "c" * 50):
        response = client.post("/webhooks/mailgun", data=mailgun_post(mailgun_event("opened"), time.time(), token))
        assert response.status_code == 200
    assert response.get_json() == {"received": 1, "stored": 0} and len(stored(service)) == 1


def test_a_sendgrid_batch_posted_three_times_is_stored_once(client, service, sendgrid_signer):
    batch = [sendgrid_event("processed"), sendgrid_event("delivered"), sendgrid_event("open"),
             sendgrid_event("dropped", reason="Bounced Address")]
    body, headers = sendgrid_post(sendgrid_signer, batch, time.time())
    answers = [client.post("/webhooks/sendgrid", data=body, headers=headers).get_json() for _ in range(3)]
    assert answers == [{"received": 3, "stored": 3}] + [{"received": 3, "stored": 0}] * 2
    assert [e.type for e in stored(service)] == ["delivered", "opened", "dropped"]
    assert listed(service)[RECIPIENT.lower()].reason == "bounced"


def test_stored_events_match_the_specs_event_schema(client, service, sendgrid_signer):
    batch = [sendgrid_event(kind) for kind in ("delivered", "open", "click", "spamreport")] + [
        sendgrid_event("bounce", type="bounce", sg_message_id=None)]  # an async bounce: no message id
    body, headers = sendgrid_post(sendgrid_signer, batch, time.time())
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).get_json()["stored"] == 5
    for event in stored(service):
        validate(event.to_json(), {"$ref": "#/components/schemas/Event"})


def test_an_ses_bounce_through_sns_is_one_event_per_recipient(client, service, sns_signer):
    body = sns_notification(sns_signer, ses_bounce("Permanent", "General", (RECIPIENT, "carol@example.com")),
                            version="2", timestamp=now_stamp())
    response = client.post("/webhooks/ses", data=body, content_type="text/plain; charset=UTF-8")
    assert response.get_json() == {"received": 2, "stored": 2}
    assert [(e.type, e.recipient) for e in stored(service)] == [("bounced", RECIPIENT.lower()),
                                                                 ("bounced", "carol@example.com")]
    assert set(listed(service, RECIPIENT, "carol@example.com")) == {RECIPIENT.lower(), "carol@example.com"}


def test_a_postmark_spam_complaint_is_stored_and_suppresses(client, service):
    response = client.post("/webhooks/postmark", data=json_body(postmark_bounce("SpamComplaint", "SpamComplaint")),
                           headers=postmark_headers())
    assert response.get_json() == {"received": 1, "stored": 1}
    assert listed(service)[RECIPIENT.lower()].reason == "complained"


def test_events_we_do_not_keep_are_acknowledged_and_nothing_is_stored(client, service, sendgrid_signer):
    body, headers = sendgrid_post(sendgrid_signer, [sendgrid_event("processed")], time.time())
    response = client.post("/webhooks/sendgrid", data=body, headers=headers)
    assert response.status_code == 200 and response.get_json() == {"received": 0, "stored": 0}
    assert nothing_kept(service)


def test_a_retry_after_a_crash_between_the_two_writes_still_suppresses(client, service):
    body = json_body(postmark_bounce("HardBounce"))
    service.events.add([to_event(postmark_bounce("HardBounce"))])  # stored, then the process died
    assert listed(service) == {}
    response = client.post("/webhooks/postmark", data=body, headers=postmark_headers())
    assert response.get_json() == {"received": 1, "stored": 0}
    assert listed(service)[RECIPIENT.lower()].reason == "bounced"


# -- refusals: the right status, and nothing stored ------------------------------------------------------------

def _mailgun(body: bytes) -> tuple[str, bytes, dict]:
    return "mailgun", body, {"Content-Type": "application/json"}


def _sendgrid(signer: SendGridSigner, batch: list, signed_at: float | None = None, body: bytes | None = None):
    signed, headers = sendgrid_post(signer, batch, time.time() if signed_at is None else signed_at)
    return "sendgrid", signed if body is None else body, headers


def _ses(signer: SnsSigner, message: dict, **extra) -> tuple[str, bytes, dict]:
    extra.setdefault("timestamp", now_stamp())
    return "ses", sns_notification(signer, message, **extra), {"Content-Type": "text/plain"}


REFUSALS = {
    "mailgun no signature": (401, lambda s: _mailgun(json_body({"event-data": mailgun_event("delivered")}))),
    "mailgun wrong key": (401, lambda s: _mailgun(mailgun_post(mailgun_event("delivered"), time.time(), key="other"))),
    "mailgun stale timestamp": (401, lambda s: _mailgun(mailgun_post(mailgun_event("delivered"),
                                                                     time.time() - 129601))),
    "mailgun ahead of time": (401, lambda s: _mailgun(mailgun_post(mailgun_event("delivered"), time.time() + 301))),
    "mailgun truncated": (400, lambda s: _mailgun(mailgun_post(mailgun_event("delivered"), time.time())[:-10])),
    "sendgrid no signature": (401, lambda s: ("sendgrid", json_body([sendgrid_event("bounce", type="bounce")]), {})),
    "sendgrid wrong key": (401, lambda s: _sendgrid(SendGridSigner(), [sendgrid_event("bounce", type="bounce")])),
    "sendgrid stale timestamp": (401, lambda s: _sendgrid(s["sendgrid"], [sendgrid_event("bounce", type="bounce")],
                                                          time.time() - 129601)),
    "sendgrid one malformed element": (400, lambda s: _sendgrid(
        s["sendgrid"], [sendgrid_event("bounce", type="bounce"), {"event": "delivered"}])),
    "ses topic not listed": (401, lambda s: _ses(s["sns"], ses_bounce("Permanent", "General"),
                                                 topic="arn:aws:sns:us-east-1:123456789012:other")),
    "ses cert on another host": (401, lambda s: _ses(SnsSigner(
        "https://sns.us-east-1.amazonaws.com.evil.example" + CERT_PATH), ses_bounce("Permanent", "General"))),
    "ses cert on s3": (401, lambda s: _ses(SnsSigner("https://s3.amazonaws.com" + CERT_PATH),
                                           ses_bounce("Permanent", "General"))),
    "ses cert over http": (401, lambda s: _ses(SnsSigner(s["cert_prefix"].replace("https:", "http:") + CERT_PATH),
                                               ses_bounce("Permanent", "General"))),
    "ses certificate not fetched": (503, lambda s: _ses(
        SnsSigner(s["cert_prefix"] + "/SimpleNotificationService-0.pem"), ses_bounce("Permanent", "General"))),
    "ses stale timestamp": (401, lambda s: _ses(s["sns"], ses_bounce("Permanent", "General"),
                                                timestamp=rfc3339(time.time() - 129601))),
    "postmark wrong password": (401, lambda s: ("postmark", json_body(postmark_bounce("HardBounce")),
                                                postmark_headers(password="guess"))),
    "postmark no credentials": (401, lambda s: ("postmark", json_body(postmark_bounce("HardBounce")), {})),
    "postmark not an object": (400, lambda s: ("postmark", b"[]", postmark_headers())),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_webhook_stores_nothing(client, service, sendgrid_signer, sns_signer, cert_server, case):
    status, make = REFUSALS[case]
    provider, body, headers = make({"sendgrid": sendgrid_signer, "sns": sns_signer,
                                    "cert_prefix": cert_server.prefix.rstrip("/")})
    response = client.post(f"/webhooks/{provider}", data=body, headers=headers)
    assert response.status_code == status
    assert response.get_json()["message"].startswith("Refused: ")
    assert nothing_kept(service)


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, service):
    body = mailgun_post(mailgun_event("delivered", padding="x" * MAX_BODY_BYTES), time.time())
    response = client.post("/webhooks/mailgun", data=body, content_type="application/json")
    assert response.status_code == 413 and response.headers["Connection"] == "close"
    assert nothing_kept(service)


def post_chunked(client, path: str, body: bytes, headers: dict | None = None):
    """POST `body` as a chunked request: no Content-Length to judge it by before reading."""
    return client.post(path, headers={"Content-Type": "application/json", **(headers or {})},
                       environ_overrides={"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked",
                                          "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})


def test_a_chunked_body_is_read_whole_and_one_over_the_limit_is_refused(client, service):
    fits = mailgun_post(mailgun_event("delivered"), time.time())
    assert post_chunked(client, "/webhooks/mailgun", fits).get_json() == {"received": 1, "stored": 1}
    too_big = mailgun_post(mailgun_event("opened", padding="x" * MAX_BODY_BYTES), time.time(), token="d" * 50)
    response = post_chunked(client, "/webhooks/mailgun", too_big)
    assert response.status_code == 413 and [e.type for e in stored(service)] == ["delivered"]


@pytest.mark.parametrize("changes", [{"webhooks": WebhookSettings()}])
@pytest.mark.parametrize("provider", ["mailgun", "sendgrid", "ses", "postmark"])
def test_a_webhook_whose_secret_is_not_set_is_off(client, service, provider):
    response = client.post(f"/webhooks/{provider}", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and "not configured" in response.get_json()["message"]
    assert nothing_kept(service)


def test_an_unknown_provider_has_no_route_and_get_is_not_allowed(client):
    assert client.post("/webhooks/mandrill", data=b"{}").status_code == 404
    refused = client.get("/webhooks/mailgun")
    assert refused.status_code == 405 and refused.headers["Allow"] == "POST"


@pytest.mark.parametrize("changes", [{"store": "sqlite:///proc/no-such-directory/store.sqlite3"}])
def test_a_store_that_cannot_be_reached_is_a_503_so_the_provider_retries(client):
    response = client.post("/webhooks/postmark", data=json_body(postmark_bounce("HardBounce")),
                           headers=postmark_headers())
    assert response.status_code == 503 and "store" in response.get_json()["message"]


# -- SNS subscriptions ------------------------------------------------------------------------------------------

def _subscription(signer: SnsSigner, subscribe_url: str) -> bytes:
    envelope = {"Type": "SubscriptionConfirmation", "MessageId": "sns-sub-1", "Token": "token-1", "TopicArn": TOPIC,
                "Message": "You have chosen to subscribe to the topic.", "SubscribeURL": subscribe_url,
                "Timestamp": now_stamp()}
    return json_body(signer.sign(envelope, "2"))


def test_an_sns_subscription_is_confirmed_by_getting_its_subscribe_url(client, service, sns_signer, cert_server):
    # The certificate server stands in for SNS's host: a GET of its one path is a confirmation it answers 200.
    gets = cert_server.gets
    body = _subscription(sns_signer, cert_server.prefix.rstrip("/") + CERT_PATH)
    response = client.post("/webhooks/ses", data=body, content_type="text/plain")
    assert response.status_code == 200 and response.get_json() == {"received": 0, "stored": 0}
    assert cert_server.gets >= gets + 1 and nothing_kept(service)


def test_a_subscribe_url_that_does_not_confirm_is_a_503_so_sns_sends_it_again(client, sns_signer, cert_server):
    body = _subscription(sns_signer, cert_server.prefix + "no-such-subscription")
    response = client.post("/webhooks/ses", data=body, content_type="text/plain")
    assert response.status_code == 503 and "SNS subscription" in response.get_json()["message"]


def test_a_subscribe_url_off_the_sns_hosts_is_refused(client, sns_signer):
    body = _subscription(sns_signer, "https://attacker.example/confirm")
    assert client.post("/webhooks/ses", data=body, content_type="text/plain").status_code == 401


# -- mock mode ---------------------------------------------------------------------------------------------------

MOCK = {"mock": True, "webhooks": WebhookSettings()}


@pytest.mark.parametrize("providers", [None])  # built from the config: mock providers with their event sink
@pytest.mark.parametrize("changes", [MOCK])
@pytest.mark.parametrize("subject, type_, reason", [("hello", "delivered", None), ("bounce", "bounced", "bounced"),
                                                     ("complaint", "complained", "complained")])
def test_each_mock_send_records_its_events_as_a_webhook_would(client, service, subject, type_, reason):
    sent = client.post("/email", headers={"X-API-KEY": KEY}, json={
        "fromaddress": "shop@example.com", "toaddress": "Ann@Example.com", "ccaddress": "bob@example.com",
        "subject": subject, "plaintextbody": "hi", "tags": ["welcome"], "metadata": {"order": "A-17"}})
    assert sent.status_code == 200
    events = stored(service)
    assert [(e.type, e.recipient, e.message_id, e.tags) for e in events] == [
        (type_, "ann@example.com", sent.get_json()["id"], ("welcome",)),
        (type_, "bob@example.com", sent.get_json()["id"], ("welcome",))]
    feed = client.get("/events", headers={"X-API-KEY": KEY}).get_json()["events"]  # as ./scripts/run shows them
    assert [(e["recipient"], e["metadata"], e["tags"]) for e in feed] == [
        ("ann@example.com", {"order": "A-17"}, ["welcome"]), ("bob@example.com", {"order": "A-17"}, ["welcome"])]
    entries = listed(service, "ann@example.com", "bob@example.com")
    assert {address: entry.reason for address, entry in entries.items()} == (
        {} if reason is None else {"ann@example.com": reason, "bob@example.com": reason})


@pytest.mark.parametrize("providers", [None])
@pytest.mark.parametrize("changes", [{**MOCK, "store": "sqlite:///proc/no-such-directory/store.sqlite3",
                                      "idempotency_store": "off"}])
def test_a_mock_send_succeeds_when_the_store_is_down(client):
    sent = client.post("/email", headers={"X-API-KEY": KEY}, json={
        "fromaddress": "shop@example.com", "toaddress": "ann@example.com", "subject": "bounce", "plaintextbody": "hi"})
    assert sent.status_code == 200


# -- metrics -----------------------------------------------------------------------------------------------------

def test_webhook_requests_and_new_events_are_counted(client, sendgrid_signer):
    from prometheus_client import REGISTRY

    def count(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {"stored": count("smsp_webhook_requests_total", provider="sendgrid", result="stored"),
              "duplicate": count("smsp_webhook_requests_total", provider="sendgrid", result="duplicate"),
              "refused": count("smsp_webhook_requests_total", provider="sendgrid", result="refused_auth"),
              "opened": count("smsp_events_total", provider="sendgrid", type="opened")}
    body, headers = sendgrid_post(sendgrid_signer, [sendgrid_event("open")], time.time())
    for _ in range(2):
        client.post("/webhooks/sendgrid", data=body, headers=headers)
    client.post("/webhooks/sendgrid", data=body)
    assert count("smsp_webhook_requests_total", provider="sendgrid", result="stored") == before["stored"] + 1
    assert count("smsp_webhook_requests_total", provider="sendgrid", result="duplicate") == before["duplicate"] + 1
    assert count("smsp_webhook_requests_total", provider="sendgrid", result="refused_auth") == before["refused"] + 1
    assert count("smsp_events_total", provider="sendgrid", type="opened") == before["opened"] + 1


# -- wiring ------------------------------------------------------------------------------------------------------

def test_keys_events_and_suppressions_share_the_one_backend_of_the_process(service, config):
    assert config.store_url == config.idempotency_store
    assert service.idempotency.store.backend is service.events.backend is service.suppressions.backend


@pytest.mark.parametrize("changes", [{"store": "sqlite:///proc/elsewhere/store.sqlite3"}])
def test_a_key_store_of_its_own_gets_a_backend_of_its_own(service, config, tmp_path):
    assert service.idempotency.store.backend.path == f"{tmp_path}/store.sqlite3"
    assert service.events.backend is service.suppressions.backend
    assert service.events.backend.path == "/proc/elsewhere/store.sqlite3"


def test_every_webhook_the_settings_can_enable_has_a_route(webhooks):
    assert set(enabled_webhooks(webhooks)) == set(PROVIDERS)
