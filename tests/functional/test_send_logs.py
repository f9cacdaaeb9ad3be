"""The request and attempt lines (README, Logs) as real gunicorn workers write them to stdout."""
from __future__ import annotations

import json

import pytest
import requests

from testkit.harness import API_KEY

pytestmark = pytest.mark.functional

MESSAGE = {"fromaddress": "sender@example.com", "toaddress": "rcpt@example.com", "subject": "logs",
           "plaintextbody": "hello"}


def send(service, request_id: str) -> requests.Response:
    return requests.post(service.url + "/email", json=MESSAGE, timeout=15,
                         headers={"X-API-KEY": API_KEY, "X-Request-ID": request_id})


def log_lines(service) -> list[dict]:
    """Every JSON line of the service so far; a request logged its own before its answer was sent."""
    return [json.loads(line) for line in service.log_path.read_text().splitlines()]


def lines_of(service, request_id: str) -> list[dict]:
    return [line for line in log_lines(service) if line.get("request_id") == request_id]


def test_a_sent_message_is_one_line_and_a_failover_adds_one_per_failed_attempt(start_service, clean_fake):
    service = start_service()
    assert send(service, "logs-sent").json()["provider"] == "mailgun"
    clean_fake.control.set_fault("mailgun", "status", status=401)
    assert send(service, "logs-failover").json()["provider"] == "sendgrid"

    [sent] = lines_of(service, "logs-sent")
    assert (sent["message"], sent["status"], sent["attempts"]) == ("request", 200, 1)
    assert (sent["provider"], sent["provider_status"]) == ("mailgun", 200)
    assert 0 <= sent["provider_ms"] <= sent["duration_ms"]

    failed, *circuit, request = lines_of(service, "logs-failover")
    assert (failed["message"], failed["level"], failed["provider"]) == ("provider attempt", "ERROR", "mailgun")
    assert (failed["outcome"], failed["provider_status"]) == ("not_accepted", 401)
    assert "credentials" in failed["reason"] and failed["duration_ms"] >= 0
    assert [line["message"] for line in circuit] == ["circuit open"]
    assert (request["message"], request["attempts"], request["provider"]) == ("request", 2, "sendgrid")
    assert request["provider_status"] == 202

    service.stop()  # gunicorn would write an access line after the answer; stopping waits for it
    assert not [line for line in log_lines(service) if line["logger"] == "gunicorn.access"]
