"""On the healthy send path (POST /email, taken by the first provider) no request thread takes a lock of ours,
of requests' cookie jar or of logging.

Every Lock and RLock reachable from the app (circuits, prober, the real Mailgun and SendGrid adapters with their
sessions and cookie jars, the URL map, the log handler) and logging's module lock become counting proxies.
Outbound HTTP is faked at the adapter with `responses`; below it, urllib3's pool takes a lock per connection
checkout (requests' pooling, kept by design). prometheus_client's counters, not reachable from the app, take
one per increment (their cost is in the README's Performance section). A response's own cookie jar is new for
each answer, so its lock is private to one thread.
"""
from __future__ import annotations

import logging
import threading

import pytest
import responses

from sendmailproxy import create_app
from sendmailproxy.config import Config
from sendmailproxy.providers.mailgun import MailgunSettings
from sendmailproxy.providers.sendgrid import SendGridSettings
from tests.api.support import KEY, MINIMAL

LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
MAILGUN_URL = "https://api.mailgun.net/v3/mg.example.com/messages"


class CountingLock:
    """A lock that counts the acquisitions by one thread that could wait (a try-acquire, as Thread.is_alive
    makes, cannot); another thread's, such as the prober's own waits, are not the send path."""

    def __init__(self, lock, thread: threading.Thread):
        self._lock, self._thread, self.count = lock, thread, 0

    def acquire(self, blocking=True, timeout=-1):
        self.count += blocking and threading.current_thread() is self._thread
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __getattr__(self, name):  # RLock's _is_owned, _release_save and the like, for Condition
        return getattr(self._lock, name)


def reachable_locks(*roots) -> list[tuple[object, str]]:
    """(owner, attribute) for every lock held in an instance attribute reachable from `roots` through
    instance attributes, dicts, lists, tuples and sets (not through modules or classes)."""
    found, seen, todo = [], set(), list(roots)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (type, type(logging), str, bytes, int, float)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo.extend(obj)
        for name, value in getattr(obj, "__dict__", {}).items():
            if isinstance(value, LOCK_TYPES):
                found.append((obj, name))
            else:
                todo.append(value)
    return found


def count_locks(app, monkeypatch) -> list[tuple[str, CountingLock]]:
    """Swap every lock reachable from `app` and the root logger, and logging's module lock, for counters."""
    me = threading.current_thread()
    counters = [("logging._lock", CountingLock(logging._lock, me))]
    monkeypatch.setattr(logging, "_lock", counters[0][1])
    root = logging.getLogger()  # pytest's capture handlers lock per record; the service runs without them
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if not type(h).__module__.startswith("_pytest")])
    for owner, name in reachable_locks(app, root):
        counters.append((f"{type(owner).__name__}.{name}", CountingLock(getattr(owner, name), me)))
        monkeypatch.setattr(owner, name, counters[-1][1])
    return counters


@pytest.fixture
def app():
    config = Config(api_keys=(KEY,), poll_address="probe@example.com", poll_interval=60.0, provider_settings={
        "mailgun": MailgunSettings(domain="mg.example.com", api_key="mg-key"),
        "sendgrid": SendGridSettings(api_key="sg-key")})
    app = create_app(config)  # the real Mailgun and SendGrid adapters, built from the config
    yield app
    app.extensions["sendmailproxy"].prober.stop()


def post(client):
    return client.post("/email", json=MINIMAL, headers={"X-API-KEY": KEY})


def test_a_sent_message_takes_no_lock(app, monkeypatch):
    client = app.test_client()
    with responses.RequestsMock() as rsps:
        rsps.post(MAILGUN_URL, json={"id": "<1@mg>", "message": "Queued. Thank you."})
        assert post(client).status_code == 200  # starts the prober thread and warms logging's level cache
        counters = count_locks(app, monkeypatch)
        for _ in range(3):
            assert post(client).get_json()["provider"] == "mailgun"
    # The locks that would be shared by every request thread of a worker, were the send path to take them.
    assert {"Circuits._write_lock", "Prober._restart_lock", "RequestsCookieJar._cookies_lock",
            "StdoutHandler.lock", "logging._lock"} <= {name for name, _ in counters}
    assert [(name, counter.count) for name, counter in counters if counter.count] == []


def test_a_providers_cookie_is_neither_kept_nor_sent_back(app):
    client = app.test_client()
    with responses.RequestsMock() as rsps:
        rsps.post(MAILGUN_URL, json={"id": "<1@mg>", "message": "Queued. Thank you."},
                  headers={"Set-Cookie": "session=abc; Path=/"})
        assert post(client).status_code == 200
        assert post(client).status_code == 200
        assert "Cookie" not in rsps.calls[1].request.headers
    for provider in app.extensions["sendmailproxy"].dispatcher.providers:
        assert not provider._session.cookies
