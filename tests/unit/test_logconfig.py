"""Logs are JSON on stdout, in one shape for the app and gunicorn, and carry the request id."""
import json
import logging

import pytest

from sendmailproxy.logconfig import REQUEST_ID, configure_logging


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    configure_logging()


def log_line(capfd, log_format, logger="sendmailproxy.test", **extra):
    configure_logging(log_format)
    token = REQUEST_ID.set("req-123")
    try:
        logging.getLogger(logger).info("hello", extra=extra)
    finally:
        REQUEST_ID.reset(token)
    return capfd.readouterr().out


def test_one_line_json_with_fields_and_request_id(capfd):
    out = log_line(capfd, "JSON_ONELINE", provider="mailgun")
    assert out.count("\n") == 1
    record = json.loads(out)
    assert record["message"] == "hello" and record["level"] == "INFO"
    assert record["provider"] == "mailgun" and record["request_id"] == "req-123"
    assert record["time"].endswith("+00:00")


def test_pretty_json_is_indented(capfd):
    out = log_line(capfd, "JSON_PRETTY")
    assert out.count("\n") > 3 and json.loads(out)["request_id"] == "req-123"


def test_debug_format_is_human_readable_with_fields(capfd):
    out = log_line(capfd, "DEBUG", provider="sendgrid")
    assert "hello" in out and "provider=sendgrid" in out and "request_id=req-123" in out


def test_gunicorn_logs_come_out_in_the_same_format(capfd):
    out = log_line(capfd, "JSON_ONELINE", logger="gunicorn.error")
    assert json.loads(out)["logger"] == "gunicorn.error"


def test_no_request_id_outside_a_request(capfd):
    configure_logging("JSON_ONELINE")
    logging.getLogger("sendmailproxy.test").info("idle")
    assert "request_id" not in json.loads(capfd.readouterr().out)


def test_debug_flag_lowers_the_level(capfd):
    configure_logging("JSON_ONELINE", debug=True)
    logging.getLogger("sendmailproxy.test").debug("detail")
    assert json.loads(capfd.readouterr().out)["level"] == "DEBUG"
