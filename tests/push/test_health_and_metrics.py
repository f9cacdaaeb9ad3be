"""/healthcheck shows the push thread and the backlog (as swagger.yaml says); /metrics counts the pushes."""
from __future__ import annotations

import pytest

from sendmailproxy import create_app
from sendmailproxy.config import Config
from testkit.polling import wait_until
from testkit.providers import FakeProvider
from testkit.pushreceiver import Reply
from tests.api.support import KEY, SpecCheckingClient
from tests.push.conftest import event, settings


@pytest.fixture
def make_app(tmp_path, receiver, secret):
    apps = []

    def make(push: bool = True):
        config = Config(api_keys=(KEY,), poll_interval=60.0, idempotency_store=f"sqlite://{tmp_path}/store.sqlite3",
                        push=settings(receiver.url, secret) if push else None)
        app = create_app(config, [FakeProvider("mailgun")])
        app.test_client_class = SpecCheckingClient
        apps.append(app)
        return app

    yield make
    for app in apps:
        service = app.extensions["sendmailproxy"]
        service.prober.stop()
        if service.sender is not None:
            service.sender.stop()


def test_push_off_shows_null(make_app):
    body = make_app(push=False).test_client().get("/healthcheck").get_json()
    assert body["push"] is None


def test_the_backlog_and_the_heartbeat(make_app, receiver):
    app = make_app()
    service = app.extensions["sendmailproxy"]
    receiver.default = Reply(500)
    service.events.add([event(1), event(2)])
    client = app.test_client()
    body = client.get("/healthcheck").get_json()  # the first request starts the sender
    assert body["push"]["backlog"]["waiting"] == 2
    assert body["push"]["backlog"]["oldest_age_seconds"] >= 0
    wait_until(lambda: len(receiver.pushes) >= 2, "the first attempts")
    body = client.get("/healthcheck").get_json()
    assert body["status"] == "ok"
    assert body["push"]["alive"] is True and 0 <= body["push"]["heartbeat_age_seconds"] < 15
    assert body["push"]["backlog"]["waiting"] == 2  # retrying: still waiting


def test_a_dead_sender_is_degraded_but_200(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(app.extensions["sendmailproxy"].sender, "is_alive", lambda: False)
    response = app.test_client().get("/healthcheck")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded" and response.get_json()["push"]["alive"] is False


def test_an_unreachable_store_shows_no_backlog(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(app.extensions["sendmailproxy"].sender, "backlog", lambda: None)
    assert app.test_client().get("/healthcheck").get_json()["push"]["backlog"] is None


def test_metrics_count_attempts_by_result(make_app, receiver):
    app = make_app()
    app.extensions["sendmailproxy"].events.add([event(1)])
    client = app.test_client()
    client.get("/healthcheck")
    wait_until(lambda: app.extensions["sendmailproxy"].events.backlog().waiting == 0, "the delivery")
    text = client.get("/metrics").get_data(as_text=True)
    for line in ('smsp_push_attempts_total{result="delivered"}', "smsp_push_delivered_total",
                 "smsp_push_given_up_total", "smsp_push_backlog ", "smsp_push_backlog_oldest_age_seconds "):
        assert line in text
