"""The suppression list: addresses that bounced, complained or unsubscribed anywhere get no more mail from us."""
from __future__ import annotations

from sendmailproxy.suppression.changes import suppress as suppress  # re-exported: the webhook route's call
from sendmailproxy.suppression.store import SuppressionStore


def open_suppressions(backend) -> SuppressionStore:
    """The suppression store on `backend` (sendmailproxy.store.open_backend's)."""
    if backend.name == "sqlite":
        from sendmailproxy.suppression.sqlitestore import SqliteSuppressionStore

        return SqliteSuppressionStore(backend)
    from sendmailproxy.suppression.redisstore import RedisSuppressionStore

    return RedisSuppressionStore(backend)
