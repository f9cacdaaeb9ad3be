"""The shared backends: URLs, schemas registered late, outages as StoreUnavailableError, SQLite's housekeeping."""
from __future__ import annotations

import threading

import pytest

from sendmailproxy.events.sqlitestore import PURGE_EVERY_SECONDS, SqliteEventStore
from sendmailproxy.events import open_events
from sendmailproxy.store import StoreUnavailableError, is_store_url, open_backend
from sendmailproxy.store.redis import RedisBackend
from sendmailproxy.store.sqlite import SqliteBackend
from sendmailproxy.suppression import open_suppressions
from sendmailproxy.suppression.store import Entry
from testkit.ports import free_port
from tests.store.conftest import event

ENTRY = Entry("a@example.com", "bounced", "ses", "2026-12-03T13:23:06Z", "ev_" + "1" * 32)


@pytest.mark.parametrize("url, valid", [
    ("sqlite:///var/lib/smsp/store.sqlite3", True),
    ("sqlite://relative/path", False),
    ("sqlite:relative", False),
    ("redis://127.0.0.1:6379/0", True),
    ("rediss://:secret@redis.internal:6380/2", True),
    ("redis://redis.internal", True),
    ("redis://redis.internal:0/0", False),
    ("redis://redis.internal:port/0", False),
    ("redis://redis.internal/db", False),
    ("redis:///0", False),
    ("memcached://host", False),
    ("off", False),
    ("", False),
])
def test_store_urls(url, valid):
    assert is_store_url(url) is valid


def test_open_backend_names_the_backend(tmp_path):
    sqlite = open_backend(f"sqlite://{tmp_path}/store.sqlite3")
    assert isinstance(sqlite, SqliteBackend) and sqlite.path == f"{tmp_path}/store.sqlite3"
    assert isinstance(open_backend("rediss://:secret@redis.internal:6380/2"), RedisBackend)
    assert "secret" not in repr(open_backend("redis://:secret@redis.internal/0"))
    with pytest.raises(ValueError):
        open_backend("memcached://host")


def test_users_share_one_sqlite_connection_per_thread_and_register_schemas_late(tmp_path):
    backend = SqliteBackend(str(tmp_path / "store.sqlite3"))
    events = open_events(backend)
    events.add([event(1)])
    suppressions = open_suppressions(backend)  # after this thread connected: its schema is run before first use
    assert suppressions.add(ENTRY)
    assert suppressions.lookup(["a@example.com"]) == {"a@example.com": ENTRY}
    assert events.backend.connection() is suppressions.backend.connection()


def test_sqlite_reads_take_no_process_lock(tmp_path):
    backend = SqliteBackend(str(tmp_path / "store.sqlite3"))
    suppressions, events = open_suppressions(backend), open_events(backend)
    suppressions.add(ENTRY)
    events.add([event(1)])
    answers = []

    def read() -> None:
        answers.append((suppressions.lookup(["a@example.com"]), events.feed(None, 10)[0]))

    with backend._write_lock:  # another thread of this worker in the middle of a write
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(30)
    assert answers == [({"a@example.com": ENTRY}, [event(1)])]


def test_redis_stopped_mid_run_is_unavailable_and_comes_back(redis_server):
    backend = RedisBackend(redis_server.url)
    events, suppressions = open_events(backend, push=True), open_suppressions(backend)
    events.add([event(1)])
    redis_server.stop()
    assert not events.reachable() and not suppressions.reachable()
    for operation in (lambda: events.add([event(2)]), lambda: events.feed(None, 10), lambda: events.claim(1, 60),
                      lambda: events.succeed(event(1).id), lambda: events.retry(event(1).id, 1),
                      events.backlog, lambda: suppressions.lookup(["a@example.com"]),
                      lambda: suppressions.add(ENTRY), lambda: suppressions.remove("a@example.com"),
                      lambda: suppressions.list(None, 10)):
        with pytest.raises(StoreUnavailableError):
            operation()
    redis_server.start()  # nothing persisted: the restarted server is empty
    assert events.reachable()
    assert events.add([event(2)]).new == [event(2)]
    assert suppressions.add(ENTRY)


def test_redis_nobody_listening():
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0")
    assert not backend.reachable()
    with pytest.raises(StoreUnavailableError):
        open_suppressions(backend).lookup(["a@example.com"])


def test_sqlite_file_that_cannot_be_opened(tmp_path):
    backend = SqliteBackend(str(tmp_path / "no-such-directory" / "store.sqlite3"))
    events, suppressions = open_events(backend), open_suppressions(backend)
    assert not backend.reachable()
    with pytest.raises(StoreUnavailableError):
        events.add([event(1)])
    with pytest.raises(StoreUnavailableError):
        suppressions.lookup(["a@example.com"])


def test_sqlite_write_lock_held_past_the_busy_timeout(tmp_path):
    holder = SqliteBackend(str(tmp_path / "store.sqlite3"), busy_timeout=0.1)
    waiter = open_events(SqliteBackend(str(tmp_path / "store.sqlite3"), busy_timeout=0.1))
    waiter.add([event(1)])
    holder.connection().execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
    try:
        with pytest.raises(StoreUnavailableError):
            waiter.add([event(2)])
        assert waiter.feed(None, 10)[0] == [event(1)]  # readers still read
    finally:
        holder.connection().execute("ROLLBACK")
    assert waiter.add([event(2)]).new == [event(2)]


def test_sqlite_purges_expired_events_nonces_and_deliveries_now_and_then(tmp_path):
    clock = [1000.0]
    events = SqliteEventStore(SqliteBackend(str(tmp_path / "store.sqlite3")), ttl=20, max_age=10, push=True,
                              clock=lambda: clock[0])
    events.add([event(1), event(2)], nonce=("token", "sha-a"))

    def rows(table: str) -> int:
        return events.backend.connection().execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    clock[0] += 30  # past the TTL and max_age, but the next purge is not due yet
    assert events.add([event(1)]).new == []  # remembered until purged: "at least max_age"
    assert events.feed(None, 10)[0] == []  # but out of the feed
    assert (rows("events"), rows("webhook_nonces"), rows("event_deliveries")) == (2, 1, 2)
    clock[0] += PURGE_EVERY_SECONDS
    assert events.add([event(3)]).new == [event(3)]
    assert (rows("events"), rows("webhook_nonces"), rows("event_deliveries")) == (1, 0, 1)
    assert events.add([event(1)]).new == [event(1)]  # forgotten
