"""Delivery events: provider webhooks in, verified and normalised to one Event, kept in the store, read as a feed."""
from __future__ import annotations

from sendmailproxy.events.store import EVENTS_TTL_SECONDS, MAX_AGE_SECONDS, EventStore


def open_events(backend, *, ttl: float = EVENTS_TTL_SECONDS, max_age: float = MAX_AGE_SECONDS,
                push: bool = False) -> EventStore:
    """The events store on `backend` (sendmailproxy.store.open_backend's)."""
    if backend.name == "sqlite":
        from sendmailproxy.events.sqlitestore import SqliteEventStore

        return SqliteEventStore(backend, ttl=ttl, max_age=max_age, push=push)
    from sendmailproxy.events.redisstore import RedisEventStore

    return RedisEventStore(backend, ttl=ttl, max_age=max_age, push=push)
