"""Failover through real gunicorn (3 workers) and the fake providers as real processes."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from testkit.polling import wait_until

pytestmark = pytest.mark.functional

POLL_INTERVAL = 0.5


def send_many(service, count: int, threads: int = 8) -> list[tuple[str, requests.Response]]:
    """Send `count` uniquely-subjected messages from `threads` clients; (subject, response) pairs."""
    def one(_):
        subject = f"msg-{uuid.uuid4().hex}"
        return subject, service.send(subject=subject)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def delivered(fake, provider: str | None = None) -> list[dict]:
    return fake.control.messages(provider=provider, probes=False)


def assert_each_delivered_once(fake, results):
    """Every 200 names the provider whose records hold that message exactly once; nothing doubled."""
    records = delivered(fake)
    subjects = [r["subject"] for r in records]
    assert len(subjects) == len(set(subjects)), "a message was delivered twice"
    by_subject = {r["subject"]: r for r in records}
    for subject, response in results:
        if response.status_code == 200:
            assert by_subject[subject]["provider"] == response.json()["provider"]
            assert by_subject[subject]["id"] == response.json()["id"]


def test_primary_refusing_connections_costs_no_client_an_error(start_service, clean_fake):
    service = start_service()
    clean_fake.control.set_fault("mailgun", "stopped")
    results = send_many(service, 60)
    assert [r.status_code for _, r in results] == [200] * 60
    assert {r.json()["provider"] for _, r in results} == {"sendgrid"}
    assert_each_delivered_once(clean_fake, results)
    assert delivered(clean_fake, "mailgun") == []


@pytest.mark.parametrize("fault, params, error_status", [
    ("status", {"status": 503}, 502),
    ("hang", {}, 504),
])
def test_ambiguous_primary_failure_costs_at_most_the_requests_in_flight(
        start_service, clean_fake, fault, params, error_status):
    service = start_service(SMSP_POLL_INTERVAL=30)  # no probe closes the circuit during this test
    threads = 8
    assert service.send().json()["provider"] == "mailgun"
    clean_fake.control.set_fault("mailgun", fault, **params)
    results = send_many(service, 80, threads)
    statuses = [r.status_code for _, r in results]
    errors = [s for s in statuses if s != 200]
    assert set(errors) <= {error_status}
    # Each of the 3 workers learns on its own; at most the requests in flight when it tripped fail.
    assert 1 <= len(errors) <= 3 * threads
    # Afterwards (every worker has tripped: 80 fresh connections reach them all), everything fails over.
    assert set(service.circuit_states().values()) == {"open"}
    after = send_many(service, 2 * threads, threads)
    assert {response.json()["provider"] for _, response in after} == {"sendgrid"}
    results += after
    assert_each_delivered_once(clean_fake, results)
    for _, response in results:
        if response.status_code != 200:
            body = response.json()
            assert body["provider"] == "mailgun" and "may or may not" in body["message"]


def test_recovered_primary_gets_its_traffic_back_at_each_workers_next_probe(start_service, clean_fake):
    service = start_service(SMSP_POLL_INTERVAL=POLL_INTERVAL)
    clean_fake.control.set_fault("mailgun", "status", status=503)
    send_many(service, 40)  # trips the circuit in the workers these reach
    opened = wait_until(lambda: {pid for pid, state in service.circuit_states().items() if state == "open"},
                        "a worker to open its circuit", 10)

    clean_fake.control.set_fault("mailgun", "ok")
    # The bound only stops a stuck test (probe timing is tested on a fake clock in tests/core). Recovery means
    # each opened worker closes at its first probe after Mailgun came back: one accepted probe each.
    wait_until(lambda: set(service.circuit_states().values()) == {"closed"}, "every worker's circuit to close", 30)
    probes = clean_fake.control.messages(provider="mailgun", probes=True)
    assert len(probes) == len(opened) and all(p["probe"] for p in probes)
    results = send_many(service, 30)
    assert {r.json()["provider"] for _, r in results} == {"mailgun"}
    assert not [r for r in delivered(clean_fake) if r["subject"] == "sendmailproxy probe"], \
        "a probe was delivered as real mail"


def test_every_circuit_open_answers_503_with_retry_after_until_the_next_probe(start_service, clean_fake):
    poll_interval = 600  # SMSP_POLL_INTERVAL reaches the workers: the next probe is 450-750 s away
    service = start_service(WEB_CONCURRENCY=1, SMSP_POLL_INTERVAL=poll_interval)
    for provider in ("mailgun", "sendgrid"):
        clean_fake.control.set_fault(provider, "status", status=401)
    assert service.send().status_code == 502  # both definitely failed: nothing sent
    response = service.send()
    assert response.status_code == 503
    # The lower bound leaves 50 s between the circuits opening and this answer.
    assert 0.75 * poll_interval - 50 <= int(response.headers["Retry-After"]) <= 1.25 * poll_interval + 1
    assert delivered(clean_fake) == []


def test_failure_threshold_from_the_environment_opens_the_circuit_at_the_third_failure(start_service, clean_fake):
    # One worker, so every request meets the same circuit; no probe closes it during the test.
    service = start_service(WEB_CONCURRENCY=1, SMSP_FAILURE_THRESHOLD=3, SMSP_POLL_INTERVAL=30)
    clean_fake.control.set_fault("mailgun", "status", status=503)

    def mailgun_circuit() -> tuple[str, int]:
        [circuit] = service.circuits().values()
        return circuit["state"], circuit["consecutive_failures"]

    for failures in (1, 2):
        assert service.send().status_code == 502
        assert mailgun_circuit() == ("closed", failures)
    assert service.send().status_code == 502
    assert mailgun_circuit()[0] == "open"
    assert service.send().json()["provider"] == "sendgrid"
    assert clean_fake.control.stats()["mailgun"]["requests"] == 3
