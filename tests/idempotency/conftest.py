"""Both stores behind one fixture, so every store test runs against SQLite and against a real redis-server."""
from __future__ import annotations

import pytest

from sendmailproxy.idempotency.redisstore import RedisStore
from sendmailproxy.idempotency.sqlitestore import SqliteStore
from testkit.redisserver import RedisServer, redis_server  # noqa: F401 - a fixture


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def make_store(store_kind, tmp_path, request):
    """Factory: a new store client on the test's one database (several clients stand for several workers)."""
    if store_kind == "sqlite":
        return lambda: SqliteStore(str(tmp_path / "idempotency.sqlite3"))
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: RedisStore(server.url)


@pytest.fixture
def store(make_store):
    return make_store()
