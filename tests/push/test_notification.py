"""The body and the Standard Webhooks headers of a push, checked with the `standardwebhooks` library."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sendmailproxy.push import notification
from sendmailproxy.push.settings import decode_secret
from tests.push.conftest import event, new_secret


def test_the_body_is_the_type_the_time_and_the_event_as_the_feed_shows_it():
    sent = event(7, type="bounced")
    assert json.loads(notification.body(sent)) == {
        "type": "email.bounced", "timestamp": "2026-12-03T13:23:06Z", "data": sent.to_json()}


def test_the_headers_verify_with_standardwebhooks():
    secret, payload, now = new_secret(), notification.body(event(1)), int(datetime.now(timezone.utc).timestamp())
    headers = notification.headers([decode_secret(secret)], event(1).id, now, payload)
    assert headers["webhook-id"] == event(1).id
    assert headers["webhook-timestamp"] == str(now)
    assert headers["Content-Type"] == "application/json"
    assert Webhook(secret).verify(payload, headers) == json.loads(payload)


def test_our_signature_is_the_librarys():
    secret, payload = new_secret(), notification.body(event(1))
    moment = datetime(2026, 12, 3, 13, 0, tzinfo=timezone.utc)
    ours = notification.signature([decode_secret(secret)], "ev_1", int(moment.timestamp()), payload)
    assert ours == Webhook(secret).sign("ev_1", moment, payload.decode())


def test_rotation_each_secret_verifies_its_own_signature():
    old, new = new_secret(24), new_secret(64)
    payload, now = notification.body(event(1)), int(datetime.now(timezone.utc).timestamp())
    headers = notification.headers([decode_secret(old), decode_secret(new)], event(1).id, now, payload)
    first, second = headers["webhook-signature"].split(" ")
    for secret, own in ((old, first), (new, second)):
        Webhook(secret).verify(payload, {**headers, "webhook-signature": own})
    with pytest.raises(WebhookVerificationError):  # each signature is its own secret's, not the other's
        Webhook(old).verify(payload, {**headers, "webhook-signature": second})


def test_another_secret_or_a_changed_body_does_not_verify():
    secret, payload, now = new_secret(), notification.body(event(1)), int(datetime.now(timezone.utc).timestamp())
    headers = notification.headers([decode_secret(secret)], event(1).id, now, payload)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(payload.replace(b"bounced", b"opened").replace(b"delivered", b"opened"), headers)
