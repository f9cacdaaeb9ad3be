"""The embedded store: idempotency records in the node's SQLite database (sendmailproxy.store.sqlite)."""
from __future__ import annotations

import secrets
import sqlite3
import time
from typing import Callable

from sendmailproxy.idempotency.store import (
    ABANDONED,
    DONE,
    SENDING,
    Abandoned,
    Claim,
    Finished,
    InFlight,
    Mismatch,
    Reserved,
    Store,
)
from sendmailproxy.store.sqlite import Every, SqliteBackend

PURGE_EVERY_SECONDS = 60
PURGE_BATCH = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    provider TEXT,
    lease_until REAL NOT NULL,
    expires_at REAL NOT NULL,
    status INTEGER,
    body TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at);
"""


class SqliteStore(Store):
    """Reservations in `BEGIN IMMEDIATE` transactions; fenced writes as single compare-and-set UPDATEs."""

    name = "sqlite"

    def __init__(self, backend: SqliteBackend | str, clock: Callable[[], float] = time.time):
        # A path opens a backend of its own (as tests do); open_store passes the service's shared one.
        self.backend = SqliteBackend(backend) if isinstance(backend, str) else backend
        self.backend.register(SCHEMA)
        self.clock = clock  # wall time: every process on the node reads the same clock
        self._purge = Every(PURGE_EVERY_SECONDS)

    def __repr__(self) -> str:
        return f"SqliteStore({self.backend.path!r})"

    def reserve(self, key: str, fingerprint: str, provider: str, lease: float, ttl: float) -> Claim:
        owner, now = secrets.token_hex(16), self.clock()
        with self.backend.writing() as db:
            # A new key, the common case, in one atomic statement (each statement releases the GIL: under 64
            # threads every one costs); a key that exists is decided in a transaction.
            if db.execute("INSERT INTO idempotency (key, fingerprint, state, owner, provider, lease_until, "
                          "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (key, fingerprint, SENDING, owner, provider, now + lease, now + lease + ttl)).rowcount:
                self._purge_now_and_then(db)
                return Reserved(owner)
        with self.backend.transaction() as db:
            return self._claim(db, key, fingerprint, owner, provider, lease, ttl)

    def _claim(self, db: sqlite3.Connection, key: str, fingerprint: str, owner: str, provider: str, lease: float,
               ttl: float) -> Claim:
        now = self.clock()
        row = db.execute("SELECT fingerprint, state, provider, lease_until, expires_at, status, body "
                         "FROM idempotency WHERE key = ?", (key,)).fetchone()
        if row is None or row[4] <= now:  # gone since the INSERT, or expired and not purged yet
            db.execute("INSERT OR REPLACE INTO idempotency (key, fingerprint, state, owner, provider, lease_until, "
                       "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (key, fingerprint, SENDING, owner, provider, now + lease, now + lease + ttl))
            return Reserved(owner)
        stored_fingerprint, state, stored_provider, lease_until, _, status, body = row
        if stored_fingerprint != fingerprint:
            return Mismatch()
        if state == DONE:
            return Finished(status, body)
        if state == SENDING and lease_until > now:
            return InFlight()
        if state == SENDING:  # its owner died or stalled while a provider had the message
            db.execute("UPDATE idempotency SET state = ?, owner = NULL, expires_at = ? WHERE key = ?",
                       (ABANDONED, now + ttl, key))
        return Abandoned(stored_provider)

    def mark_sending(self, key: str, owner: str, provider: str) -> bool:
        return self._fenced_update("UPDATE idempotency SET provider = ? WHERE key = ? AND owner = ? AND state = ?",
                                   (provider, key, owner, SENDING))

    def finish(self, key: str, owner: str, status: int, body: str, ttl: float) -> bool:
        # An abandoned record has no owner.
        return self._fenced_update("UPDATE idempotency SET state = ?, status = ?, body = ?, expires_at = ? "
                                   "WHERE key = ? AND owner = ?", (DONE, status, body, self.clock() + ttl, key, owner))

    def release(self, key: str, owner: str) -> bool:
        return self._fenced_update("DELETE FROM idempotency WHERE key = ? AND owner = ? AND state = ?",
                                   (key, owner, SENDING))

    def reachable(self) -> bool:
        return self.backend.reachable()

    def _fenced_update(self, sql: str, parameters: tuple) -> bool:
        with self.backend.writing() as db:
            return db.execute(sql, parameters).rowcount == 1

    def _purge_now_and_then(self, db: sqlite3.Connection) -> None:
        # Expired rows are already ignored by reserve(); deleting them keeps the file from growing. A batch a
        # minute per worker, under the write lock, so no single purge holds it for long.
        now = self.clock()
        if not self._purge.due(now):
            return
        db.execute("DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE expires_at <= ? LIMIT ?)",
                   (now, PURGE_BATCH))

