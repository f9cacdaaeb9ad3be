"""/metrics over real gunicorn: counts are summed across workers, circuit gauges are per live worker."""
from __future__ import annotations

import os
import signal

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from testkit.polling import wait_until

pytestmark = pytest.mark.functional


def scrape(service) -> dict[tuple[str, frozenset], float]:
    response = requests.get(service.url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def circuit_gauges(samples, provider) -> dict[int, float]:
    return {int(dict(labels)["pid"]): v for (name, labels), v in samples.items()
            if name == "smsp_circuit_open" and dict(labels)["provider"] == provider}


def test_counters_add_up_across_workers(start_service, clean_fake):
    service = start_service(WEB_CONCURRENCY=3)
    for _ in range(30):
        assert service.send().status_code == 200  # a new connection each: spread over the workers
    samples = scrape(service)
    assert value(samples, "smsp_http_requests_total", route="/email", method="POST", status="200") == 30
    assert value(samples, "smsp_provider_attempts_total", provider="mailgun", outcome="accepted") == 30
    assert value(samples, "smsp_provider_latency_seconds_count", provider="mailgun") == 30
    workers = service.worker_pids()
    assert set(circuit_gauges(samples, "mailgun")) == workers
    assert set(circuit_gauges(samples, "mailgun").values()) == {0.0}


def test_open_circuits_probes_and_all_open_are_counted(start_service, clean_fake):
    service = start_service(WEB_CONCURRENCY=1, SMSP_POLL_INTERVAL=0.3)
    for provider in ("mailgun", "sendgrid"):
        clean_fake.control.set_fault(provider, "status", status=503)
    assert service.send().status_code == 502  # mailgun ambiguous: opens it, not re-sent
    assert service.send().status_code == 502  # sendgrid ambiguous: opens it
    assert service.send().status_code == 503
    samples = scrape(service)
    assert value(samples, "smsp_all_circuits_open_total") == 1
    assert set(circuit_gauges(samples, "mailgun").values()) == {1.0}
    wait_until(lambda: value(scrape(service), "smsp_probes_total", provider="mailgun", result="ambiguous") >= 1,
               "a failed probe to be counted", 10, 0.1)
    clean_fake.control.reset_faults()
    wait_until(lambda: set(circuit_gauges(scrape(service), "mailgun").values()) == {0.0},
               "the gauge to show the circuit closed", 10, 0.1)
    assert value(scrape(service), "smsp_probes_total", provider="mailgun", result="accepted") >= 1


def test_a_dead_workers_gauges_disappear(start_service, clean_fake):
    service = start_service(WEB_CONCURRENCY=2)
    victim = min(service.worker_pids())
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in service.worker_pids() and len(service.worker_pids()) == 2,
               "gunicorn to replace the killed worker", 20, 0.1)
    service.health_of_every_worker()  # the new worker is serving, so its prober has published its gauges
    gauges = circuit_gauges(scrape(service), "mailgun")
    assert victim not in gauges
    assert set(gauges) == service.worker_pids()
