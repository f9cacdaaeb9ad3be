"""A synchronous control client, and `run_fake_providers` to start the fake as a subprocess in tests."""

import contextlib
import http.client
import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from . import DEFAULT_MAILGUN_DOMAIN, DEFAULT_MAILGUN_KEY, DEFAULT_SENDGRID_KEY

START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class FakeProvidersError(RuntimeError):
    """The control API refused a request, or the fake did not start."""


class FakeProviders:
    """The control API at `control_url`; http.client only, so it bypasses any proxy settings."""

    def __init__(self, control_url: str, timeout: float = 10):
        self.url = control_url
        self._address = urlsplit(control_url)
        self.timeout = timeout

    def set_fault(self, provider: str, mode: str, **params) -> dict:
        """Switch `provider` ("mailgun" or "sendgrid") to `mode`; takes effect from its next request."""
        return self._call("PUT", f"/faults/{provider}", {"mode": mode, **params})

    def reset_faults(self) -> dict:
        """Every provider back to mode ok (re-binding stopped ones)."""
        return self._call("DELETE", "/faults")

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def messages(self, provider: str | None = None, probes: bool | None = False) -> list[dict]:
        """Accepted messages in arrival order: real ones by default, probes=True for probes, None for all."""
        query = {"provider": provider, "probes": None if probes is None else str(probes).lower()}
        query = urlencode({k: v for k, v in query.items() if v is not None})
        return self._call("GET", f"/messages?{query}")["messages"]

    def stats(self) -> dict:
        """Per provider: requests, by_status (codes, "hang", "reset"), connections, accepted, probes."""
        return self._call("GET", "/stats")

    def clear(self) -> None:
        """Forget every message and count."""
        self._call("DELETE", "/messages")

    def _call(self, method: str, path: str, payload: dict | None = None):
        connection = http.client.HTTPConnection(self._address.hostname, self._address.port,
                                                timeout=self.timeout)
        try:
            body = None if payload is None else json.dumps(payload)
            headers = {"Content-Type": "application/json"} if body else {}
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status >= 300:
            raise FakeProvidersError(f"{method} {path}: {response.status} {data.decode(errors='replace')}")
        return json.loads(data) if data else None


@dataclass(frozen=True)
class RunningFakeProviders:
    """A fake started by run_fake_providers: where it listens, its credentials and its control client."""

    mailgun_url: str
    sendgrid_url: str
    control: FakeProviders
    mailgun_domain: str
    mailgun_key: str
    sendgrid_key: str
    process: subprocess.Popen

    @property
    def mailgun_send_url(self) -> str:
        return f"{self.mailgun_url}/v3/{self.mailgun_domain}/messages"

    @property
    def sendgrid_send_url(self) -> str:
        return f"{self.sendgrid_url}/v3/mail/send"


@contextlib.contextmanager
def run_fake_providers(**cli_kwargs):
    """Run `python -m fakeproviders` with `--some-option value` for each some_option=value keyword."""
    options = {"mailgun_domain": DEFAULT_MAILGUN_DOMAIN, "mailgun_key": DEFAULT_MAILGUN_KEY,
               "sendgrid_key": DEFAULT_SENDGRID_KEY, **cli_kwargs}
    argv = [sys.executable, "-m", "fakeproviders"]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    # The fake must import from this checkout whatever the caller's working directory is.
    python_path = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": python_path})
    try:
        urls = _read_urls(process)
        yield RunningFakeProviders(
            mailgun_url=urls["mailgun"], sendgrid_url=urls["sendgrid"],
            control=FakeProviders(urls["control"]), mailgun_domain=options["mailgun_domain"],
            mailgun_key=options["mailgun_key"], sendgrid_key=options["sendgrid_key"], process=process)
    finally:
        _stop(process)


def _read_urls(process: subprocess.Popen) -> dict:
    # A thread, because a pipe read has no timeout of its own.
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        raise FakeProvidersError(f"no URLs from the fake within {START_TIMEOUT_S} s") from None
    if not line:
        raise FakeProvidersError(f"the fake exited with status {process.wait()} before listening")
    return json.loads(line)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()
