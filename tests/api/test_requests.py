"""What every request gets: a request id, one log line, the prober kept running, and JSON for every error."""
from __future__ import annotations

import logging

import pytest

from sendmailproxy.logconfig import REQUEST_ID
from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.api.support import MINIMAL


def request_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sendmailproxy.api" and r.getMessage() == "request"]


@pytest.mark.parametrize("given", ["abc", "req-1.2:3_4", "x" * 128])
def test_a_sane_request_id_is_kept(client, caplog, given):
    response = client.get("/healthcheck", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given
    assert [line.request_id for line in request_lines(caplog)] == [given]


@pytest.mark.parametrize("given", [None, "", "x" * 129, "has space", "semi;colon", "ü"])
def test_otherwise_one_is_generated(client, given):
    headers = {} if given is None else {"X-Request-ID": given}
    first = client.get("/healthcheck", headers=headers).headers["X-Request-ID"]
    second = client.get("/healthcheck", headers=headers).headers["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


def test_one_request_line_with_the_outcome(post_email, providers, caplog):
    providers[0].outcome = Outcome(OutcomeKind.NOT_ACCEPTED, reason="HTTP 429", status=429)
    response = post_email(MINIMAL, headers={"X-Request-ID": "trace-1"})
    [line] = request_lines(caplog)
    assert line.levelno == logging.INFO
    fields = ("method", "path", "status", "request_id", "provider", "attempts", "client_ip")
    assert {key: getattr(line, key) for key in fields} == {
        "method": "POST", "path": "/email", "status": 200, "request_id": "trace-1", "provider": "sendgrid",
        "attempts": 2, "client_ip": "127.0.0.1"}
    assert line.duration_ms >= 0
    # Every line logged while serving the request carries its id.
    ours = [record for record in caplog.records if record.name.startswith("sendmailproxy")]
    assert {record.request_id for record in ours} == {"trace-1"}
    assert response.headers["X-Request-ID"] == "trace-1"


def test_failed_send_is_logged_with_its_attempts(post_email, providers, caplog):
    providers[0].outcome = Outcome(OutcomeKind.AMBIGUOUS, reason="HTTP 502", status=502)
    post_email(MINIMAL)
    [line] = request_lines(caplog)
    assert (line.status, line.provider, line.attempts) == (502, None, 1)


def test_the_request_id_is_unset_after_the_request(client):
    client.get("/healthcheck", headers={"X-Request-ID": "gone-after"})
    assert REQUEST_ID.get() is None


def test_every_request_keeps_the_prober_running(app, client, monkeypatch):
    calls = []
    monkeypatch.setattr(app.extensions["sendmailproxy"].prober, "ensure_running", lambda: calls.append(1))
    client.get("/healthcheck")
    client.get("/nowhere")
    assert len(calls) == 2


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/nowhere", 404),
    ("POST", "/email/", 404),
    ("GET", "/email", 405),
    ("PUT", "/email", 405),
    ("OPTIONS", "/email", 405),
    ("DELETE", "/healthcheck", 405),
    ("POST", "/swagger.json", 405),
    ("TRACE", "/healthcheck", 405),
])
def test_unknown_routes_and_methods_answer_json(client, caplog, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json and response.get_json()["message"]
    assert response.headers["X-Request-ID"]
    if status == 405:
        assert response.headers["Allow"]
    assert len(request_lines(caplog)) == 1


def test_an_unexpected_error_is_a_json_500_without_a_traceback(app, post_email, monkeypatch):
    def explode(message):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["sendmailproxy"].dispatcher, "send", explode)
    response = post_email(MINIMAL)
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal server error."}
    assert "secret internals" not in response.get_data(as_text=True)
