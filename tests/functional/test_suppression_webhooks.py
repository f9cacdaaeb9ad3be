"""Webhooks fill the suppression list, through real gunicorn: each fake posts its provider's signed events to
POST /webhooks/<provider>, and the next send to a hard-bounced address gets 422 with nothing recorded by any
fake provider, also with the first provider's circuit open; a soft bounce does not suppress; SendGrid's `dropped` "Bounced Address" does; lifting by the admin API lets it send again; a bounce
posted to one pod is refused by another sharing a real redis-server."""
from __future__ import annotations

import pytest

from testkit.harness import Gunicorn
from tests.functional.test_suppression import ADMIN_KEY, admin, send
from tests.functional.test_webhooks import post_events, webhook_env

pytestmark = pytest.mark.functional

RECIPIENT = "rcpt@example.com"


def bounce(fake, service: Gunicorn, provider: str, event: str) -> None:
    """Send to RECIPIENT through `provider`, then have its fake post `event` for that message, accepted."""
    sent = send(service, toaddress=RECIPIENT, subject=f"before the {event}")
    assert sent.status_code == 200 and sent.json()["provider"] == provider
    answers = post_events(fake, service.url, provider, sent.json()["id"], event)
    assert answers and {status for status, _ in answers} == {200}, answers


@pytest.mark.parametrize("provider", ["mailgun", "sendgrid", "ses", "postmark"])
def test_after_a_hard_bounce_the_next_send_gets_422_and_nothing_is_sent(start_service, clean_fake, provider):
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS=provider))
    bounce(clean_fake, service, provider, "bounce")
    refused = send(service, toaddress=f"Rcpt <{RECIPIENT.upper()}>", subject="refused")
    assert refused.status_code == 422
    assert [(s["address"], s["reason"], s["provider"]) for s in refused.json()["suppressed"]] == [
        (RECIPIENT.upper(), "bounced", provider)]
    assert [m["subject"] for m in clean_fake.control.messages()] == ["before the bounce"]


def test_a_bounce_at_one_provider_is_refused_at_the_next_with_the_first_circuit_open(start_service, clean_fake):
    # One worker, so every request meets the circuit opened below; no probe closes it during the test.
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="sendgrid,mailgun", WEB_CONCURRENCY="1",
                                          SMSP_POLL_INTERVAL="30"))
    bounce(clean_fake, service, "sendgrid", "bounce")
    clean_fake.control.set_fault("sendgrid", "status", status=401)  # provably not taken: fails over
    assert send(service, toaddress="ann@example.com", subject="fails over").json()["provider"] == "mailgun"
    assert set(service.circuit_states("sendgrid").values()) == {"open"}
    assert send(service, toaddress=RECIPIENT, subject="refused").status_code == 422
    assert [m["subject"] for m in clean_fake.control.messages()] == ["before the bounce", "fails over"]


@pytest.mark.parametrize("provider", ["mailgun", "sendgrid", "ses", "postmark"])
def test_a_soft_bounce_does_not_suppress(start_service, clean_fake, provider):
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS=provider))
    bounce(clean_fake, service, provider, "soft_bounce")
    assert send(service, toaddress=RECIPIENT, subject="sent again").status_code == 200
    assert len(clean_fake.control.messages()) == 2


def test_a_sendgrid_drop_for_a_bounced_address_suppresses_until_lifted(start_service, clean_fake):
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="sendgrid", SMSP_ADMIN_API_KEY=ADMIN_KEY))
    bounce(clean_fake, service, "sendgrid", "dropped_bounced_address")
    refused = send(service, toaddress=RECIPIENT, subject="refused")
    assert [s["reason"] for s in refused.json()["suppressed"]] == ["bounced"]
    entry = admin(service, "GET", RECIPIENT).json()
    assert (entry["reason"], entry["provider"]) == ("bounced", "sendgrid") and entry["event_id"]
    assert admin(service, "DELETE", RECIPIENT).status_code == 204
    assert send(service, toaddress=RECIPIENT, subject="lifted").status_code == 200
    assert [m["subject"] for m in clean_fake.control.messages()] == ["before the dropped_bounced_address", "lifted"]


def test_skip_leaves_out_a_bounced_address_and_sends_to_the_rest(start_service, clean_fake):
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="mailgun"))
    bounce(clean_fake, service, "mailgun", "bounce")
    response = send(service, toaddress=[RECIPIENT, "ann@example.com"], subject="skip", suppressed="skip")
    assert response.status_code == 200 and response.json()["skipped"] == [RECIPIENT]
    [message] = [m for m in clean_fake.control.messages() if m["subject"] == "skip"]
    assert message["to"] == ["ann@example.com"]


def test_a_bounce_posted_to_one_pod_is_refused_by_the_other(start_service, clean_fake, redis_server):
    first, second = (start_service(**webhook_env(clean_fake, SMSP_PROVIDERS="ses", SMSP_STORE=redis_server.url,
                                                 SMSP_IDEMPOTENCY_STORE=redis_server.url)) for _ in range(2))
    bounce(clean_fake, first, "ses", "complaint")
    refused = send(second, toaddress=RECIPIENT, subject="refused")
    assert [s["reason"] for s in refused.json()["suppressed"]] == ["complained"]
    assert len(clean_fake.control.messages()) == 1
