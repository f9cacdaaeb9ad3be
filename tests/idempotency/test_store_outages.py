"""Outages raise StoreUnavailableError (the API's 503) and show in reachable(); SQLite's housekeeping."""
from __future__ import annotations

import pytest

from sendmailproxy.idempotency.redisstore import RedisStore
from sendmailproxy.idempotency.sqlitestore import PURGE_EVERY_SECONDS, SqliteStore
from sendmailproxy.idempotency.store import Reserved, StoreUnavailableError
from sendmailproxy.store.sqlite import SqliteBackend
from testkit.ports import free_port


def test_redis_down_is_unavailable_and_comes_back(redis_server):
    store = RedisStore(redis_server.url)
    assert isinstance(store.reserve("a", "f", "mailgun", 60, 60), Reserved)
    redis_server.stop()
    assert not store.reachable()
    with pytest.raises(StoreUnavailableError):
        store.reserve("b", "f", "mailgun", 60, 60)
    redis_server.start()
    assert store.reachable()
    assert isinstance(store.reserve("b", "f", "mailgun", 60, 60), Reserved)


def test_redis_nobody_listening():
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    assert not store.reachable()
    with pytest.raises(StoreUnavailableError):
        store.reserve("a", "f", "mailgun", 60, 60)


def test_sqlite_file_that_cannot_be_opened(tmp_path):
    store = SqliteStore(str(tmp_path / "no-such-directory" / "idempotency.sqlite3"))
    assert not store.reachable()
    with pytest.raises(StoreUnavailableError):
        store.reserve("a", "f", "mailgun", 60, 60)


def test_sqlite_write_lock_held_past_the_busy_timeout(tmp_path):
    holder = SqliteStore(SqliteBackend(str(tmp_path / "db"), busy_timeout=0.1))
    waiter = SqliteStore(SqliteBackend(str(tmp_path / "db"), busy_timeout=0.1))
    holder.reserve("a", "f", "mailgun", 60, 60)
    holder.backend.connection().execute("BEGIN IMMEDIATE")  # another worker in the middle of a reservation
    try:
        with pytest.raises(StoreUnavailableError):
            waiter.reserve("b", "f", "mailgun", 60, 60)
    finally:
        holder.backend.connection().execute("ROLLBACK")
    assert isinstance(waiter.reserve("b", "f", "mailgun", 60, 60), Reserved)


def test_sqlite_purges_expired_records_now_and_then(tmp_path):
    clock = [1000.0]
    store = SqliteStore(str(tmp_path / "db"), clock=lambda: clock[0])
    for n in range(5):
        claim = store.reserve(f"old-{n}", "f", "mailgun", 1, 10)
        store.finish(f"old-{n}", claim.owner, 200, "{}", 10)

    def rows() -> int:
        return store.backend.connection().execute("SELECT count(*) FROM idempotency").fetchone()[0]

    clock[0] += 30  # expired, but the next purge is not due yet
    store.reserve("new-1", "f", "mailgun", 1, 1000)
    assert rows() == 6
    clock[0] += PURGE_EVERY_SECONDS
    store.reserve("new-2", "f", "mailgun", 1, 1000)
    assert rows() == 2
