"""What a send writes to the JSON log (README, Logs): one request line, plus one line per attempt not accepted.

Read from file descriptor 1, as the service writes them, so the formatter and handler are part of the check.
"""
from __future__ import annotations

import json

import pytest

from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.api.support import MINIMAL

ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS
EVERY_LINE = {"time", "level", "logger", "message", "request_id"}
REQUEST_LINE = EVERY_LINE | {"method", "path", "status", "duration_ms", "client_ip", "attempts", "provider",
                             "provider_status", "provider_ms"}
ATTEMPT_LINE = EVERY_LINE | {"provider", "outcome", "provider_status", "duration_ms", "reason"}

TOOK_IT = Outcome(ACCEPTED, "Queued. Thank you.", message_id="<1@mg>", status=200)
RATE_LIMITED = Outcome(NOT_ACCEPTED, "rate limited (HTTP 429)", status=429)
BAD_KEY = Outcome(NOT_ACCEPTED, "credentials problem (HTTP 401)", status=401)
REFUSED = Outcome(NOT_ACCEPTED, "could not connect: ConnectionError")
BAD_MESSAGE = Outcome(REJECTED, "'to' parameter is not a valid address", status=400)
SERVER_ERROR = Outcome(AMBIGUOUS, "provider error (HTTP 503)", status=503)
NO_ANSWER = Outcome(AMBIGUOUS, "no answer in time after sending: ReadTimeout", timed_out=True)


def send_and_read_log(post_email, capfd, *, request_id="trace-7") -> tuple[int, list[dict]]:
    """POST MINIMAL; the status and the request and attempt lines it logged, in the order written."""
    capfd.readouterr()
    status = post_email(MINIMAL, headers={"X-Request-ID": request_id}).status_code
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert {line["request_id"] for line in lines} == {request_id}
    return status, [line for line in lines if line["message"] in ("request", "provider attempt")]


def test_an_accepted_message_logs_one_line_that_names_the_attempt(post_email, providers, capfd):
    providers[0].outcome = TOOK_IT
    status, [line] = send_and_read_log(post_email, capfd)
    assert status == 200
    assert set(line) == REQUEST_LINE
    assert line["message"] == "request" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"], line["client_ip"]) == ("POST", "/email", 200, "127.0.0.1")
    assert (line["attempts"], line["provider"], line["provider_status"]) == (1, "mailgun", 200)
    assert 0 <= line["provider_ms"] <= line["duration_ms"]


# mailgun's and sendgrid's outcomes (None: not called); the attempt lines as (provider, outcome,
# provider_status, level); and the request line's status, attempts, provider and provider_status.
SENDS = {
    "failover": (RATE_LIMITED, TOOK_IT, [("mailgun", "not_accepted", 429, "WARNING")],
                 (200, 2, "sendgrid", 200)),
    "bad key, failover": (BAD_KEY, TOOK_IT, [("mailgun", "not_accepted", 401, "ERROR")], (200, 2, "sendgrid", 200)),
    "rejected": (BAD_MESSAGE, None, [("mailgun", "rejected", 400, "INFO")], (422, 1, None, None)),
    "ambiguous": (SERVER_ERROR, None, [("mailgun", "ambiguous", 503, "WARNING")], (502, 1, None, None)),
    "timeout": (NO_ANSWER, None, [("mailgun", "ambiguous", None, "WARNING")], (504, 1, None, None)),
    "nobody took it": (RATE_LIMITED, REFUSED, [("mailgun", "not_accepted", 429, "WARNING"),
                                               ("sendgrid", "not_accepted", None, "WARNING")], (502, 2, None, None)),
}


@pytest.mark.parametrize("mailgun, sendgrid, attempts, request_fields", SENDS.values(), ids=SENDS.keys())
def test_each_attempt_not_accepted_logs_its_own_line_before_the_request_line(
        post_email, providers, capfd, mailgun, sendgrid, attempts, request_fields):
    providers[0].outcome, providers[1].outcome = mailgun, sendgrid
    status, lines = send_and_read_log(post_email, capfd)
    *attempt_lines, request_line = lines
    assert [(a["provider"], a["outcome"], a["provider_status"], a["level"]) for a in attempt_lines] == attempts
    for line in attempt_lines:
        assert set(line) == ATTEMPT_LINE
        assert line["message"] == "provider attempt"
        assert line["reason"] and line["duration_ms"] >= 0
    assert set(request_line) == REQUEST_LINE and request_line["message"] == "request"
    fields = ("status", "attempts", "provider", "provider_status")
    assert tuple(request_line[key] for key in fields) == request_fields
    assert status == request_fields[0]
    assert (request_line["provider_ms"] is None) == (request_line["provider"] is None)


def test_with_every_circuit_open_only_the_request_line_is_logged(post_email, providers, capfd):
    providers[0].outcome = providers[1].outcome = SERVER_ERROR
    post_email(MINIMAL)  # opens mailgun's circuit
    post_email(MINIMAL)  # and sendgrid's
    status, [line] = send_and_read_log(post_email, capfd)
    assert status == 503
    assert (line["message"], line["attempts"], line["provider"]) == ("request", 0, None)
