"""Delivery events through real gunicorn: a send, the fake posting its provider's signed webhook for it, the event
in the store; two instances sharing a real redis-server; an SNS subscription confirmed against the fake SNS."""
from __future__ import annotations

import json

import pytest
import requests

from sendmailproxy.events import open_events
from sendmailproxy.store import open_backend
from sendmailproxy.suppression import open_suppressions
from testkit.harness import Gunicorn
from testkit.webhookreceiver import Receiver

PM_USER, PM_PASSWORD = "pm-hooks", "pm-webhook-secret"
RECIPIENT = "rcpt@example.com"


def webhook_env(fake, **overrides) -> dict[str, str]:
    """Every webhook on, with the secrets the fakes sign with, and the fakes' CA for the SNS certificate."""
    keys = fake.control.webhook_keys()
    return {"SMSP_MG_WEBHOOK_SIGNING_KEY": keys["mailgun"]["signing_key"],
            "SMSP_SG_WEBHOOK_PUBLIC_KEY": keys["sendgrid"]["public_key"],
            "SMSP_SES_SNS_TOPIC_ARNS": keys["ses"]["topic_arn"],
            "SMSP_SES_SNS_CERT_URL_PREFIX": keys["ses"]["cert_url_prefix"],
            "SMSP_PM_WEBHOOK_USERNAME": PM_USER, "SMSP_PM_WEBHOOK_PASSWORD": PM_PASSWORD,
            # The CA requests verifies with comes first; this machine sets it.
            "REQUESTS_CA_BUNDLE": fake.options["smtp_ca_file"], "SSL_CERT_FILE": fake.options["smtp_ca_file"],
            **overrides}


def stored(store_url: str, message_id: str) -> list:
    """The events the store holds for one message, read as any other instance would."""
    return open_events(open_backend(store_url)).feed(None, 1000, message_id=message_id)[0]


def post_events(fake, url: str, provider: str, message_id: str, *events: str, **params) -> list[tuple[int, dict]]:
    """Have the fake post its provider's webhook for `message_id` to `url`; each answer's status and JSON body."""
    if provider == "postmark":
        params.update(username=PM_USER, password=PM_PASSWORD)
    posts = fake.control.post_webhook(f"{url}/webhooks/{provider}", message_id, events=list(events), **params)
    return [(post["status"], json.loads(post["body"])) for post in posts]


@pytest.mark.parametrize("provider", ["mailgun", "sendgrid", "ses", "postmark"])
def test_a_send_then_its_providers_bounce_webhook_is_stored_and_suppresses(start_service, clean_fake, tmp_path,
                                                                           provider):
    store = f"sqlite://{tmp_path}/store.sqlite3"
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS=provider, SMSP_STORE=store, WEB_CONCURRENCY=2))
    sent = service.send(toaddress=RECIPIENT, tags=["welcome"])
    assert sent.status_code == 200 and sent.json()["provider"] == provider
    message_id = sent.json()["id"]

    answers = post_events(clean_fake, service.url, provider, message_id, "delivered", "bounce")
    # SendGrid posts one batch, the others a POST per event (SES names every recipient in each).
    assert answers in ([(200, {"received": 2, "stored": 2})], [(200, {"received": 1, "stored": 1})] * 2)

    events = stored(store, message_id)
    assert [(e.type, e.provider, e.recipient, e.tags) for e in events] == [
        ("delivered", provider, RECIPIENT, ("welcome",)), ("bounced", provider, RECIPIENT, ("welcome",))]
    [entry] = open_suppressions(open_backend(store)).lookup([RECIPIENT]).values()
    assert (entry.reason, entry.provider, entry.event_id) == ("bounced", provider, events[1].id)


def captured(fake, provider: str, message_id: str, *events: str) -> tuple[bytes, dict]:
    """The fake's signed POST for `message_id`, caught rather than delivered, to hand the same bytes to each
    instance: the body and the headers that carry its signature."""
    receiver = Receiver()
    try:
        fake.control.post_webhook(receiver.url + provider, message_id, events=list(events))
    finally:
        receiver.close()
    [(_, headers, body)] = receiver.posts
    return body, {name: value for name, value in headers.items() if name.lower().startswith(("content-type", "x-"))}


def post(service: Gunicorn, provider: str, body: bytes, headers: dict) -> tuple[int, dict]:
    response = requests.post(f"{service.url}/webhooks/{provider}", data=body, headers=headers, timeout=15)
    return response.status_code, response.json()


def test_two_instances_sharing_the_key_stores_redis_share_events_and_store_each_once(start_service, clean_fake,
                                                                                     redis_server):
    # SMSP_STORE unset: the events go where SMSP_IDEMPOTENCY_STORE says, as in a deployment from before events.
    first, second = (start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="sendgrid", WEB_CONCURRENCY=2,
                                                 SMSP_IDEMPOTENCY_STORE=redis_server.url)) for _ in range(2))
    message_id = first.send(toaddress=RECIPIENT).json()["id"]
    batch = captured(clean_fake, "sendgrid", message_id, "processed", "delivered", "open", "dropped_bounced_address")

    # SendGrid's batch posted three times, to either instance: each event is stored once.
    assert [post(service, "sendgrid", *batch) for service in (second, first, second)] == [
        (200, {"received": 3, "stored": 3})] + [(200, {"received": 3, "stored": 0})] * 2
    assert [e.type for e in stored(redis_server.url, message_id)] == ["delivered", "opened", "dropped"]
    assert open_suppressions(open_backend(redis_server.url)).lookup([RECIPIENT])[RECIPIENT].reason == "bounced"


def test_a_mailgun_token_used_on_one_instance_is_known_to_the_other(start_service, clean_fake, redis_server):
    first, second = (start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="mailgun", WEB_CONCURRENCY=2,
                                                 SMSP_STORE=redis_server.url)) for _ in range(2))
    message_id = first.send(toaddress=RECIPIENT).json()["id"]
    body, headers = captured(clean_fake, "mailgun", message_id, "delivered")
    assert post(first, "mailgun", body, headers) == (200, {"received": 1, "stored": 1})
    assert post(second, "mailgun", body, headers) == (200, {"received": 1, "stored": 0})
    # The token again with another body, at the other instance: refused, nothing stored.
    status, _ = post(second, "mailgun", body.replace(b'"delivered"', b'"opened"'), headers)
    assert status == 401 and [e.type for e in stored(redis_server.url, message_id)] == ["delivered"]


def test_an_sns_subscription_is_confirmed_against_the_fake_sns(start_service, clean_fake, tmp_path):
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="ses", WEB_CONCURRENCY=2))
    answer = clean_fake.control.subscribe(f"{service.url}/webhooks/ses", signature_version="2")
    assert (answer["status"], json.loads(answer["body"])) == (200, {"received": 0, "stored": 0})
    assert f"{service.url}/webhooks/ses" in clean_fake.control.confirmed_subscriptions()
    confirmed = [r for r in service.log_records() if r["message"] == "SNS subscription confirmed"]
    assert len(confirmed) == 1 and "Token" not in str(confirmed[0])
