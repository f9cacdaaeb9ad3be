"""Every store test runs against SQLite in a temporary directory and against a real redis-server."""
from __future__ import annotations

import pytest

from sendmailproxy.events.model import Event
from sendmailproxy.events import open_events
from sendmailproxy.store.redis import RedisBackend
from sendmailproxy.store.sqlite import SqliteBackend
from sendmailproxy.suppression import open_suppressions
from testkit.redisserver import RedisServer, redis_server  # noqa: F401 - a fixture


@pytest.fixture(params=["sqlite", "redis"])
def backend_kind(request) -> str:
    return request.param


@pytest.fixture
def make_backend(backend_kind, tmp_path, request):
    """Factory: a new backend on the test's one database (several backends stand for several workers)."""
    if backend_kind == "sqlite":
        return lambda: SqliteBackend(str(tmp_path / "store.sqlite3"))
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisBackend(server.url)


@pytest.fixture
def make_events(make_backend):
    """Factory: an events store (push on unless told) on a new backend."""
    return lambda **options: open_events(make_backend(), **{"push": True, **options})


@pytest.fixture
def events(make_events):
    return make_events()


@pytest.fixture
def suppressions(make_backend):
    return open_suppressions(make_backend())


def event(n: int, message_id: str | None = "<m1@example.com>", recipient: str = "to@example.com",
          type: str = "delivered") -> Event:
    """The n-th test event (its id follows from n, so the same n is the same event)."""
    return Event(id=f"ev_{n:032d}", type=type, provider="mailgun", message_id=message_id, recipient=recipient,
                 occurred_at="2026-12-03T13:23:06Z", reason=None, metadata={"order": str(n)}, tags=("t",))
