"""Prometheus metrics, summed across gunicorn workers by prometheus_client's multiprocess mode.

Multiprocess mode is chosen by PROMETHEUS_MULTIPROC_DIR being set before prometheus_client is first
imported; gunicorn.conf.py prepares that directory. Without it (tests, Flask's dev server) the
metrics live in this process only.
"""
from __future__ import annotations

import functools
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# The methods the API serves (HEAD with every GET); anything else a client sends counts as one "other", so a
# client cannot grow the number of series.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
HTTP_REQUESTS = Counter("smsp_http_requests", "HTTP requests answered.", ["route", "method", "status"])
PROVIDER_ATTEMPTS = Counter("smsp_provider_attempts", "Provider calls, by outcome class.", ["provider", "outcome"])
PROVIDER_LATENCY = Histogram(
    "smsp_provider_latency_seconds", "Time a provider took to answer a send.", ["provider"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 4, 8))
# Each worker keeps its own circuits, so the truth is per worker: one series per live pid.
CIRCUIT_OPEN = Gauge("smsp_circuit_open", "1 while this worker's circuit for the provider is open.",
                     ["provider"], multiprocess_mode="liveall")
PROBES = Counter("smsp_probes", "Probes sent while a circuit was open, by outcome class.", ["provider", "result"])
ALL_CIRCUITS_OPEN = Counter("smsp_all_circuits_open", "Requests answered 503 because every circuit was open.")
# result: stored, released, replayed, conflict (409), mismatch (422), abandoned (a lease ran out while a
# provider had the message), lease_lost (a late owner fenced out) or store_error.
IDEMPOTENCY = Counter("smsp_idempotency", "Requests with an Idempotency-Key, by what became of the key.", ["result"])
# Delivery events (issue 19). `provider`: one of the four webhook routes. `result`: stored (200, an event was new),
# duplicate (200, every event was stored before: a provider's retry), ignored (200, nothing to store: types we do
# not keep, an SNS unsubscribe confirmation), confirmed (200, an SNS subscription), off (404, no secret set),
# refused_auth (401: signature, credentials, replay window, topic, a Mailgun token reused), malformed (400),
# too_large (413), store_error (503, the store is down) or upstream_error (503, SNS could not be reached).
WEBHOOK_REQUESTS = Counter("smsp_webhook_requests", "Webhook POSTs, by provider and what became of them.",
                           ["provider", "result"])
EVENTS = Counter("smsp_events", "Events stored for the first time, by provider and type.", ["provider", "type"])
# The suppression list (issue 20). result: clear (no recipient listed), refused (422), skipped (sent without the
# listed ones), store_error (the list could not be read: sent anyway, or 503 with ..._ON_STORE_ERROR=refuse).
SUPPRESSION_CHECKS = Counter("smsp_suppression_checks", "Sends checked against the suppression list, by result.",
                             ["result"])
# reason: bounced, complained, unsubscribed, dropped (from provider events) or manual (the admin API).
SUPPRESSIONS_ADDED = Counter("smsp_suppressions_added", "Addresses put on the suppression list, by reason.",
                             ["reason"])
SUPPRESSIONS_LIFTED = Counter("smsp_suppressions_lifted", "Addresses lifted from the suppression list.")
# Events pushed to the application (issue 21). result: delivered, failed_status, timeout, connection_error, gone.
PUSH_ATTEMPTS = Counter("smsp_push_attempts", "Attempts to push an event to the application, by result.", ["result"])
PUSH_DELIVERED = Counter("smsp_push_delivered", "Events the application acknowledged with a 2xx.")
PUSH_GIVEN_UP = Counter("smsp_push_given_up", "Events no longer pushed: the schedule ran out, or a 410.")
# The backlog is the store's, the same for every worker: the highest of the live workers' recent readings.
PUSH_BACKLOG = Gauge("smsp_push_backlog", "Events waiting to be pushed (due, in flight or scheduled for a retry).",
                     multiprocess_mode="livemax")
PUSH_BACKLOG_AGE = Gauge("smsp_push_backlog_oldest_age_seconds", "How long the oldest waiting event has waited.",
                         multiprocess_mode="livemax")


@functools.lru_cache(maxsize=1024)
def labelled(metric, *values):
    """`metric.labels(*values)`, looked up once: prometheus_client takes a lock for it on every call.

    Label values are bounded (routes, methods, statuses, providers, outcome classes), so the cache never fills.
    """
    return metric.labels(*values)


def method_label(method: str) -> str:
    """The `method` label of HTTP_REQUESTS: the method if the API serves it, else "other"."""
    return method if method in HTTP_METHODS else "other"


def publish_circuits(circuits) -> None:
    """Set every circuit gauge of this process to its current state."""
    for circuit in circuits.snapshot():
        CIRCUIT_OPEN.labels(circuit.provider).set(0 if circuit.closed else 1)


def circuit_changed(old, new, reason: str) -> None:
    """Circuits' on_change callback."""
    CIRCUIT_OPEN.labels(new.provider).set(0 if new.closed else 1)


def render() -> tuple[bytes, str]:
    """The exposition text of every worker (multiprocess mode) or of this process."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
