"""The backends every kept thing shares (idempotency keys, events, the suppression list): SQLite or Redis."""
from __future__ import annotations

from urllib.parse import urlsplit

from sendmailproxy.store.errors import StoreUnavailableError as StoreUnavailableError  # re-exported

STORE_URL_FORMS = "sqlite:///absolute/path or redis[s]://[:password@]host:port/db"
MAX_PAGE = 1000  # the most entries one read of a feed or list answers


def is_store_url(url: str) -> bool:
    """Whether `url` names a store in one of STORE_URL_FORMS (callers never show it: it may hold a password)."""
    parts = urlsplit(url)
    database = parts.path.strip("/")
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number
        port_ok = False
    sqlite = parts.scheme == "sqlite" and not parts.netloc and parts.path.startswith("/")
    redis = (parts.scheme in ("redis", "rediss") and bool(parts.hostname) and port_ok
             and (database == "" or database.isdigit()))
    return sqlite or redis


def check_page_limit(limit: int) -> None:
    """ValueError unless 1 <= limit <= MAX_PAGE (a store user's paged read)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1-{MAX_PAGE}")


def open_backend(url: str):
    """The SqliteBackend or RedisBackend `url` names (checked by is_store_url). Connects lazily, per thread."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from sendmailproxy.store.sqlite import SqliteBackend

        return SqliteBackend(parts.path)
    if parts.scheme in ("redis", "rediss"):
        from sendmailproxy.store.redis import RedisBackend  # redis is imported only where it is used

        return RedisBackend(url)
    raise ValueError(f"not a store URL: {STORE_URL_FORMS}")
