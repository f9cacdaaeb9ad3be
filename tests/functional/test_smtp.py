"""The SMTP provider through real gunicorn against the fake relay: failover, ambiguity, probes, TLS."""
from __future__ import annotations

import pytest
import trustme

from testkit.polling import wait_until
from tests.functional.test_failover import assert_each_delivered_once, delivered, send_many

pytestmark = pytest.mark.functional

PASSWORD = "smtp-password"  # the fake relay's, in SMSP_SMTP_URL: never in a log line


def assert_password_never_logged(service) -> None:
    assert PASSWORD not in service.log_path.read_text()


def test_mailgun_down_fails_over_to_the_relay_and_each_message_is_delivered_once(start_service, clean_fake):
    service = start_service(SMSP_PROVIDERS="mailgun,smtp")
    clean_fake.control.set_fault("mailgun", "stopped")

    results = send_many(service, 40)

    assert [r.status_code for _, r in results] == [200] * 40
    assert {r.json()["provider"] for _, r in results} == {"smtp"}
    assert_each_delivered_once(clean_fake, results)
    assert len(delivered(clean_fake, "smtp")) == 40 and delivered(clean_fake, "mailgun") == []
    assert_password_never_logged(service)


@pytest.mark.parametrize("fault, status", [("lost", 502), ("hang", 504)])
def test_relay_that_may_have_the_message_costs_an_error_and_nothing_is_sent_elsewhere(
        start_service, clean_fake, fault, status):
    service = start_service(SMSP_PROVIDERS="smtp,mailgun", WEB_CONCURRENCY=1, SMSP_POLL_INTERVAL=30)
    clean_fake.control.set_fault("smtp", fault)

    response = service.send(subject="accepted, reply lost")

    assert response.status_code == status
    body = response.json()
    assert body["provider"] == "smtp" and "may or may not" in body["message"] and "Message-ID <" in body["message"]
    records = delivered(clean_fake)
    assert [(r["provider"], r["subject"]) for r in records] == ([("smtp", "accepted, reply lost")]
                                                                if fault == "lost" else [])
    assert_password_never_logged(service)


def test_probe_closes_the_relays_circuit_and_never_sends_data(start_service, clean_fake):
    service = start_service(SMSP_PROVIDERS="smtp,sendgrid", SMSP_POLL_INTERVAL=0.5)
    clean_fake.control.set_fault("smtp", "stopped")
    assert {r.json()["provider"] for _, r in send_many(service, 20)} == {"sendgrid"}
    wait_until(lambda: "open" in service.circuit_states("smtp").values(), "a worker to open its circuit", 10)

    clean_fake.control.set_fault("smtp", "ok")
    wait_until(lambda: set(service.circuit_states("smtp").values()) == {"closed"}, "every worker's circuit to close",
               10)
    results = send_many(service, 10)

    assert {r.json()["provider"] for _, r in results} == {"smtp"}
    probes = clean_fake.control.messages(provider="smtp", probes=True)
    assert probes and all(p["envelope"]["rcpt_tos"] == ["probe@example.com"] for p in probes)
    # Every DATA the relay saw carried a real message: 10, none of them to the poll address.
    assert clean_fake.control.stats()["smtp"]["requests"] == len(delivered(clean_fake, "smtp")) == 10
    assert all("probe@example.com" not in r["envelope"]["rcpt_tos"] for r in delivered(clean_fake, "smtp"))


def test_relay_certificate_is_verified_against_ssl_cert_file(start_service, clean_fake, tmp_path):
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    untrusting = start_service(SMSP_PROVIDERS="smtp", WEB_CONCURRENCY=1, SSL_CERT_FILE=str(stranger))
    trusting = start_service(SMSP_PROVIDERS="smtp", WEB_CONCURRENCY=1)  # SSL_CERT_FILE: the fake's own CA

    refused, accepted = untrusting.send(), trusting.send()

    assert refused.status_code == 502 and "CERTIFICATE_VERIFY_FAILED" in refused.json()["message"]
    assert accepted.status_code == 200 and accepted.json()["provider"] == "smtp"
    assert len(delivered(clean_fake, "smtp")) == 1
