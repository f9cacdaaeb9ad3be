"""One logging setup, JSON on stdout, shared by the app and gunicorn; every line of a request carries its id."""
from __future__ import annotations

import contextvars
import datetime
import logging
import logging.config
import os

from pythonjsonlogger.json import JsonEncoder

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# LogRecord's own attributes; everything else on a record came in through `extra=`.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_STANDARD = _RESERVED | {"request_id"}


class RequestIdFilter(logging.Filter):
    """Stamp the current request's id on each record logged while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class StdoutHandler(logging.Handler):
    """One os.write per line, taking no lock: a request thread never waits on another's log line.

    logging.StreamHandler formats and writes under a lock shared by every thread of the worker; here
    formatting needs no lock, and a single write of a line shorter than PIPE_BUF (4 KiB; reasons are
    truncated well below) is atomic, so lines from different threads never interleave.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        try:
            os.write(1, (self.format(record) + "\n").encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - as logging does: a log line must never break a request
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


class JsonLineFormatter(logging.Formatter):
    """python-json-logger's JsonFormatter line (level, logger, message, the extra fields, time), built directly.

    The same keys in the same order, encoded by its JsonEncoder; without its general machinery (a format string
    parsed into fields, renames, a new encoder per line) a line costs half as much.
    """

    def __init__(self, indent: int | None = None):
        super().__init__()
        self._encode = JsonEncoder(indent=indent).encode  # stateless between calls, so shared by all threads

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        line["time"] = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc).isoformat()
        return self._encode(line)


class TextFormatter(logging.Formatter):
    """The human-readable DEBUG format: the line, then its structured fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD or k == "request_id"}
        return line + "".join(f" {k}={v}" for k, v in fields.items())


def logging_config(log_format: str = "JSON_ONELINE", debug: bool = False) -> dict:
    """The dictConfig for a format (JSON_ONELINE, JSON_PRETTY or DEBUG), used by the app and gunicorn."""
    if log_format == "DEBUG":
        formatter = {"()": TextFormatter, "format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    else:
        formatter = {"()": JsonLineFormatter, "indent": 2 if log_format == "JSON_PRETTY" else None}
    level = "DEBUG" if debug else "INFO"
    handler = {"()": StdoutHandler, "formatter": "main", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {"stdout": handler},
        "root": {"level": level, "handlers": ["stdout"]},
        # Gunicorn's loggers propagate to root, so its lines come out in the same format.
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            # urllib3 at DEBUG logs every connection; keep it quiet unless asked for.
            "urllib3": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: str = "JSON_ONELINE", debug: bool = False) -> None:
    logging.config.dictConfig(logging_config(log_format, debug))
