"""Idempotency keys: a keyed send happens at most once, and every retry with the key gets its answer."""
from __future__ import annotations

from urllib.parse import urlsplit

from sendmailproxy.idempotency.store import Store


def open_store(url: str) -> Store | None:
    """The store SMSP_IDEMPOTENCY_STORE names (validated by config): None for `off`. Connects lazily."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from sendmailproxy.idempotency.sqlitestore import SqliteStore

        return SqliteStore(urlsplit(url).path)
    if scheme in ("redis", "rediss"):
        from sendmailproxy.idempotency.redisstore import RedisStore  # imported only by those who use it

        return RedisStore(url)
    return None
