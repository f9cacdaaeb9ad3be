"""Process faults: a worker killed outright, and the master told to stop while requests are in flight."""
from __future__ import annotations

import os
import signal
import socket
import threading
import uuid

import pytest
import requests

from testkit.polling import wait_until

pytestmark = pytest.mark.functional

POLL_INTERVAL = 0.5


def test_killed_worker_is_replaced_and_its_new_prober_closes_its_circuits(start_service, clean_fake):
    service = start_service(WEB_CONCURRENCY=2, SMSP_POLL_INTERVAL=POLL_INTERVAL)
    before = service.worker_pids()
    victim, survivor = sorted(before)
    os.kill(victim, signal.SIGKILL)
    [new] = service.wait_for_workers(2, exclude={victim}) - {survivor}

    # Alive: its thread runs and its heartbeat is fresh. That it probes is shown below, by events.
    assert service.health_of_every_worker()[new]["prober"]["alive"]

    # Open the new worker's circuit: fresh connections land on either worker, so send until one lands there.
    clean_fake.control.set_fault("mailgun", "status", status=503)
    statuses = []

    def new_worker_tripped():
        statuses.append(service.send(timeout=10).status_code)
        return service.circuit_states()[new] == "open"

    wait_until(new_worker_tripped, "the new worker to open its mailgun circuit", 30, 0)
    assert set(statuses) <= {200, 502}
    opened = service.circuits()[new]

    # Only a probe closes a circuit, and only the probe thread probes: closing proves the new thread runs.
    clean_fake.control.set_fault("mailgun", "ok")
    wait_until(lambda: service.circuit_states()[new] == "closed", "the new worker's probe to close its circuit",
               4 * POLL_INTERVAL + 5)
    closed = service.circuits()[new]
    assert closed["generation"] == opened["generation"] + 1 and closed["probes"] >= 1
    assert clean_fake.control.messages("mailgun", probes=True), "no probe reached Mailgun"
    assert survivor in service.worker_pids(), "killing one worker disturbed the other"


def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_connections(start_service, clean_fake):
    # Mailgun holds every request this long: ample time for the refusal to come first (it takes milliseconds).
    latency_ms, in_flight = 4000, 6
    service = start_service(WEB_CONCURRENCY=2, SMSP_PROVIDER_TIMEOUT=10)
    clean_fake.control.set_fault("mailgun", "ok", latency_ms=latency_ms)
    results: dict[str, requests.Response | Exception] = {}

    def send(subject: str):
        try:
            results[subject] = service.send(subject=subject, timeout=30)
        except requests.RequestException as error:
            results[subject] = error

    subjects = [f"inflight-{uuid.uuid4().hex}" for _ in range(in_flight)]
    clients = [threading.Thread(target=send, args=(subject,)) for subject in subjects]
    for client in clients:
        client.start()
    # Each request opens its own connection to Mailgun, which holds it for latency_ms: all are in flight.
    wait_until(lambda: clean_fake.control.stats()["mailgun"]["connections"] >= in_flight,
               "every request to reach Mailgun", 10)
    service.process.send_signal(signal.SIGTERM)

    # New connections are refused (not accepted and then reset) while the in-flight requests still run.
    def refused() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", service.port), timeout=2):
                return False
        except ConnectionRefusedError:
            return True

    wait_until(refused, "new connections to be refused", latency_ms / 1000, 0.05)
    assert not results, "refused only once the in-flight requests had ended, or one ended early"

    for client in clients:
        client.join(30)
    assert len(results) == in_flight
    for subject, result in results.items():
        assert isinstance(result, requests.Response), f"{subject}: {result!r}"
        assert result.status_code == 200 and result.json()["provider"] == "mailgun", result.text
    assert service.process.wait(15) == 0
    delivered = [m["subject"] for m in clean_fake.control.messages(probes=False)]
    assert sorted(delivered) == sorted(results)
