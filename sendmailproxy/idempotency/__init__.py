"""Idempotency keys: a keyed send happens at most once, and every retry with the key gets its answer."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from sendmailproxy.idempotency.idempotency import Idempotency, Replay
from sendmailproxy.idempotency.store import Store

__all__ = ["Idempotency", "Replay", "build_idempotency", "open_store"]

if TYPE_CHECKING:
    from sendmailproxy.config import Config
    from sendmailproxy.providers.base import Provider

# Our own work around the provider calls in one request: validation is over, so store round trips mostly.
LEASE_MARGIN_SECONDS = 2.0


def build_idempotency(config: Config, providers: Sequence[Provider], backend) -> Idempotency:
    """The service's Idempotency: its store on `backend` (None: SMSP_IDEMPOTENCY_STORE=off), and a lease that
    covers every provider's longest send in turn."""
    lease = sum(provider.max_send_seconds for provider in providers) + LEASE_MARGIN_SECONDS
    return Idempotency(None if backend is None else open_store(backend), lease=lease, ttl=config.idempotency_ttl)


def open_store(backend) -> Store:
    """The idempotency store on `backend` (sendmailproxy.store.open_backend's). Connects lazily."""
    if backend.name == "sqlite":
        from sendmailproxy.idempotency.sqlitestore import SqliteStore

        return SqliteStore(backend)
    from sendmailproxy.idempotency.redisstore import RedisStore  # redis is imported only where it is used

    return RedisStore(backend)
