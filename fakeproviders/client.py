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

from . import FAKES

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
        """Switch `provider` (a name in FAKES) to `mode`; takes effect from its next request."""
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

    def post_webhook(self, url: str, message_id: str, event: str | None = None, **params) -> list[dict]:
        """Have the fake that recorded `message_id` post its provider's signed webhook for it to `url`; the
        receiver's answers ({"status", "body"}), one per POST. Params: docs/events.md, "Fakes"."""
        params = {"url": url, "message_id": message_id, **({"event": event} if event else {}), **params}
        return self._call("POST", "/webhooks", params)["posts"]

    def webhook_keys(self) -> dict:
        """What a receiver verifies each fake's webhooks with: Mailgun's signing key, SendGrid's public key,
        the SNS topic and certificate URL prefix."""
        return self._call("GET", "/webhooks/keys")

    def subscribe(self, url: str, signature_version: str = "1") -> dict:
        """Have the fake SNS post a signed SubscriptionConfirmation to `url`; the receiver's answer."""
        return self._call("POST", "/sns/subscriptions", {"url": url, "signature_version": signature_version})["posts"][0]

    def confirmed_subscriptions(self) -> list[str]:
        """The URLs whose SubscribeURL was fetched, in order."""
        return self._call("GET", "/sns/subscriptions")["confirmed"]

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
    """A fake started by run_fake_providers: where each provider listens, its options and the control client."""

    urls: dict[str, str]  # provider name -> base URL
    options: dict[str, str]  # every fake's command-line options, e.g. "mailgun_key", and what the fakes chose
    control: FakeProviders
    process: subprocess.Popen

    def send_url(self, provider: str) -> str:
        return self.urls[provider] + FAKES[provider].send_path(self.options)

    def service_env(self) -> dict[str, str]:
        """The SMSP_* variables that point the service at every fake provider, with the fakes' credentials."""
        env: dict[str, str] = {}
        for name, api in FAKES.items():
            env.update(api.service_env(self.urls[name], self.options))
        return env


@contextlib.contextmanager
def run_fake_providers(**cli_kwargs):
    """Run `python -m fakeproviders` with `--some-option value` for each some_option=value keyword."""
    options = {option: default for api in FAKES.values() for option, default in api.OPTIONS.items()}
    options.update(cli_kwargs)
    argv = [sys.executable, "-m", "fakeproviders"]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    # The fake must import from this checkout whatever the caller's working directory is.
    python_path = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": python_path})
    try:
        urls = _read_urls(process)
        # What a fake chose at start (smtp_ca_file, ses_cert_url_prefix): every name on the line but the URLs.
        options.update((name, value) for name, value in urls.items() if name not in FAKES and name != "control")
        yield RunningFakeProviders(urls={name: urls[name] for name in FAKES}, options=options,
                                   control=FakeProviders(urls["control"]), process=process)
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
