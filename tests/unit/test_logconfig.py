"""Logs are JSON on stdout, in one shape for the app and gunicorn, and carry the request id."""
import datetime
import json
import logging
import sys

import pytest

from sendmailproxy.logconfig import REQUEST_ID, configure_logging, logging_config


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


class Unencodable:
    def __str__(self):
        return "an object JSON has no type for"


def python_json_logger(indent=None):
    """The formatter the service configured before it built its lines itself: the reference for every line."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level", "name": "logger"},
                         timestamp="time", json_indent=indent)


def record(msg="request", args=(), exc_info=None, stack_info=False, exc_text=None, **extra):
    logger = logging.getLogger("sendmailproxy.api")
    made = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, msg, args, exc_info, extra=extra)
    made.exc_text = exc_text  # set by a formatter that saw the record first
    if stack_info:
        made.stack_info = "Stack (most recent call last):\n  File x, line 1"
    return made


def failure():
    try:
        raise ValueError("boom ✗")
    except ValueError:
        return sys.exc_info()


RECORDS = {
    "request line": lambda: record(method="POST", path="/email", status=200, duration_ms=1.2, request_id="r-1",
                                   client_ip="127.0.0.1", attempts=1, provider="mailgun", provider_status=None,
                                   provider_ms=0.8),
    "no extras, %-args": lambda: record("sent %d of %s", (3, "ünïcode")),
    "non-JSON values": lambda: record(when=datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc),
                                      raw=b"\xffbytes", thing=Unencodable(), kind=logging.INFO, items=(1, 2)),
    "an exception": lambda: record("unhandled error", exc_info=failure()),
    "an exception formatted before": lambda: record("unhandled error", exc_text="Traceback: boom"),
    "a stack": lambda: record("where", stack_info=True),
    "an extra named like a field": lambda: record(level="custom", logger="other", time="then"),
}


@pytest.mark.parametrize("indent", [None, 2], ids=["JSON_ONELINE", "JSON_PRETTY"])
@pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())
def test_lines_are_python_json_loggers_to_the_byte(make, indent):
    log_record = make()
    config = logging_config("JSON_PRETTY" if indent else "JSON_ONELINE")["formatters"]["main"]
    formatter = config["()"](**{k: v for k, v in config.items() if k != "()"})
    assert formatter.format(log_record) == python_json_logger(indent).format(log_record)
