"""Idempotency-Key through real gunicorn: one node (SQLite), two pods sharing a real redis-server, a worker
killed mid-send, and Redis stopped mid-run. The fake providers' records say what was really delivered."""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
import requests

from testkit.harness import Gunicorn, as_test_response
from testkit.polling import wait_until
from tests.api.spec_check import assert_response_matches_spec

pytestmark = pytest.mark.functional

CLIENTS = 16
LATENCY_MS = 500  # every concurrent client arrives while the first is still sending


def keyed(service: Gunicorn, key: str, subject: str, timeout: float = 15) -> requests.Response:
    """A fresh connection per call (so calls spread over the workers), with the key; checked against the spec."""
    response = service.send(timeout=timeout, request_headers={"Idempotency-Key": key, "Connection": "close"},
                            subject=subject)
    assert_response_matches_spec(as_test_response(response))
    return response


def delivered(fake, subject: str) -> list[dict]:
    return [m for m in fake.control.messages(probes=False) if m["subject"] == subject]


def replayed(response: requests.Response) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


def send_concurrently_once(services: list[Gunicorn], fake) -> None:
    """CLIENTS clients released at once with one key, spread over `services`: one delivery, one fresh 200."""
    fake.control.set_fault("mailgun", "ok", latency_ms=LATENCY_MS)
    key = subject = f"same-{uuid.uuid4().hex}"
    start = threading.Barrier(CLIENTS)
    answers: list[requests.Response | None] = [None] * CLIENTS

    def client(n: int) -> None:
        start.wait()
        answers[n] = keyed(services[n % len(services)], key, subject)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert None not in answers, "a client got no answer"
    fresh = [a for a in answers if a.status_code == 200 and not replayed(a)]
    others = [a for a in answers if a not in fresh]
    assert len(fresh) == 1, [(a.status_code, a.text) for a in answers]
    assert all(a.status_code == 409 or (a.status_code == 200 and replayed(a)) for a in others), \
        [(a.status_code, a.text) for a in others]
    assert any(a.status_code == 409 for a in others), "no client overlapped the first: the race was not run"
    [record] = delivered(fake, subject)
    sent = fresh[0].json()
    assert (record["provider"], record["id"]) == (sent["provider"], sent["id"])
    for service in services:  # afterwards every pod replays the one answer
        again = keyed(service, key, subject)
        assert again.status_code == 200 and replayed(again) and again.json() == sent
    assert len(delivered(fake, subject)) == 1


def test_one_node_three_workers_sixteen_clients_one_key_one_delivery(start_service, clean_fake):
    service = start_service(WEB_CONCURRENCY=3)  # the default store: a SQLite file all its workers share
    send_concurrently_once([service], clean_fake)


def test_two_pods_sharing_redis_one_key_one_delivery(start_service, clean_fake, redis_server):
    pods = [start_service(WEB_CONCURRENCY=2, SMSP_IDEMPOTENCY_STORE=redis_server.url) for _ in range(2)]
    send_concurrently_once(pods, clean_fake)


def test_a_worker_killed_mid_send_leaves_the_outcome_unknown_and_never_resends(start_service, clean_fake):
    # One provider and one worker, so the lease is 2 x 2 s (connect + read) + 2 s and the victim is known.
    service = start_service(WEB_CONCURRENCY=1, SMSP_PROVIDERS="mailgun", SMSP_PROVIDER_TIMEOUT=2)
    clean_fake.control.set_fault("mailgun", "ok", latency_ms=1500)
    key = subject = f"killed-{uuid.uuid4().hex}"
    connections = clean_fake.control.stats()["mailgun"]["connections"]
    first: list[object] = []
    sender = threading.Thread(target=lambda: first.append(_try(lambda: keyed(service, key, subject, timeout=30))))
    sender.start()
    wait_until(lambda: clean_fake.control.stats()["mailgun"]["connections"] > connections,
               "the send to reach Mailgun", 10, 0.01)
    [victim] = service.worker_pids()
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    sender.join(30)
    assert isinstance(first[0], requests.ConnectionError), first
    service.wait_for_workers(1, exclude={victim})
    reached = clean_fake.control.stats()["mailgun"]["connections"]

    answers = []

    def settled():
        answers.append(keyed(service, key, subject))
        return answers[-1].status_code != 409

    wait_until(settled, "the lease to run out", 30, 0.25)
    final = answers[-1]
    assert {a.status_code for a in answers[:-1]} <= {409}
    assert final.status_code == 502 and replayed(final), final.text
    assert final.json()["provider"] == "mailgun" and "may or may not have been sent" in final.json()["message"]
    assert time.monotonic() - killed_at > 2, "answered before the lease could have run out"
    assert keyed(service, key, subject).json() == final.json(), "the unknown outcome is kept"
    time.sleep(2)  # past the fake's latency: a delivery of the first send would show now
    assert len(delivered(clean_fake, subject)) <= 1
    assert clean_fake.control.stats()["mailgun"]["connections"] == reached, "a retry reached the provider"


def test_redis_stopped_mid_run_fails_keyed_requests_closed_and_recovers(start_service, clean_fake, redis_server):
    service = start_service(WEB_CONCURRENCY=2, SMSP_IDEMPOTENCY_STORE=redis_server.url)
    assert keyed(service, "before", "before").status_code == 200

    redis_server.stop()
    for n in range(4):  # every worker, most likely
        refused = keyed(service, f"during-{n}", f"during-{n}")
        assert refused.status_code == 503 and refused.json()["code"] == "idempotency_store_unavailable"
    assert not any(m["subject"].startswith("during-") for m in clean_fake.control.messages(probes=False))
    unkeyed = service.send(subject="unkeyed", request_headers={"Connection": "close"})
    assert unkeyed.status_code == 200
    for health in service.health_of_every_worker().values():
        assert health["idempotency"] == {"store": "redis", "reachable": False}
    assert 'smsp_idempotency_total{result="store_error"}' in requests.get(service.url + "/metrics", timeout=10).text

    redis_server.start()  # the same port, empty: persistence is off in the tests
    for n in range(4):
        assert keyed(service, f"after-{n}", f"after-{n}").status_code == 200
    for health in service.health_of_every_worker().values():
        assert health["idempotency"] == {"store": "redis", "reachable": True}


def _try(call):
    try:
        return call()
    except requests.RequestException as error:
        return error
