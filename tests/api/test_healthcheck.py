"""GET /healthcheck: no key, always 200, and `degraded` when a circuit is open, the prober is not alive or the
events' store does not answer."""
from __future__ import annotations

import os
import time

from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.api.support import MINIMAL


def test_healthy(app, client):
    service = app.extensions["sendmailproxy"]
    client.get("/healthcheck")  # the first request starts this process's prober
    beat, started = service.prober.heartbeat, time.monotonic()
    response = client.get("/healthcheck")
    ended, last_beat = time.monotonic(), service.prober.heartbeat

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["pid"] == os.getpid()
    assert body["prober"]["alive"] is True
    assert body["events"] == {"store": "sqlite", "reachable": True}
    # Ages are measured at the answer, which came between `started` and `ended` (rounded to the ms).
    assert started - last_beat - 0.0005 <= body["prober"]["heartbeat_age_seconds"] <= ended - beat + 0.0005
    assert set(body["circuits"]) == {"mailgun", "sendgrid"}
    mailgun = body["circuits"]["mailgun"]
    since = service.circuits["mailgun"].since
    assert started - since - 0.0005 <= mailgun.pop("seconds_in_state") <= ended - since + 0.0005
    assert mailgun == {"state": "closed", "generation": 0, "consecutive_failures": 0, "last_failure": None,
                       "last_reason": None, "probes": 0}


def test_open_circuit_is_degraded_but_200(client, post_email, providers):
    providers[0].outcome = Outcome(OutcomeKind.NOT_ACCEPTED, reason="HTTP 401", status=401)
    post_email(MINIMAL)
    response = client.get("/healthcheck")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["circuits"]["mailgun"] | {"seconds_in_state": 0} == {
        "state": "open", "seconds_in_state": 0, "generation": 1, "consecutive_failures": 1,
        "last_failure": "not_accepted", "last_reason": "HTTP 401", "probes": 0,
    }
    assert body["circuits"]["sendgrid"]["state"] == "closed"


def test_dead_prober_is_degraded_but_200(app, client, monkeypatch):
    monkeypatch.setattr(app.extensions["sendmailproxy"].prober, "is_alive", lambda: False)
    response = client.get("/healthcheck")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["prober"]["alive"] is False


def test_an_unreachable_events_store_is_degraded_but_200(make_app, tmp_path):
    # The keys keep a store of their own, which answers: only the events' and suppression list's is down.
    client = make_app(store=f"sqlite://{tmp_path}/missing/directory/store.sqlite3",
                      idempotency_store=f"sqlite://{tmp_path}/keys.sqlite3").test_client()
    response = client.get("/healthcheck")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["events"], body["idempotency"]["reachable"]) == (
        "degraded", {"store": "sqlite", "reachable": False}, True)


def test_head_answers_without_a_body(client):
    response = client.head("/healthcheck")
    assert response.status_code == 200
    assert response.get_data() == b""
