"""The embedded store: one SQLite file shared by every worker of a node, in WAL mode, one connection per thread."""
from __future__ import annotations

import contextlib
import sqlite3
import secrets
import threading
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
    StoreUnavailableError,
)

BUSY_TIMEOUT_SECONDS = 5.0
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

    def __init__(self, path: str, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock  # wall time: every process on the node reads the same clock
        # Connections are opened by the thread that uses them, so never before gunicorn forks (SQLite
        # connections must not cross a fork) and never shared between threads.
        self._local = threading.local()
        # Writers of this process queue here rather than in SQLite's busy handler, which sleeps for
        # milliseconds at a time where a write takes tens of microseconds.
        self._writing = threading.Lock()
        self._next_purge = 0.0

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def reserve(self, key: str, fingerprint: str, provider: str, lease: float, ttl: float) -> Claim:
        owner, now = secrets.token_hex(16), self.clock()
        with _converted_errors(), self._writing:
            db = self._connection()
            # A new key, the common case, in one atomic statement (each statement releases the GIL: under 64
            # threads every one costs); a key that exists is decided in a transaction.
            if db.execute("INSERT INTO idempotency (key, fingerprint, state, owner, provider, lease_until, "
                          "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (key, fingerprint, SENDING, owner, provider, now + lease, now + lease + ttl)).rowcount:
                self._purge_now_and_then(db)
                return Reserved(owner)
            # IMMEDIATE takes the write lock before the read, so two workers cannot both see the key free; a
            # deferred transaction would fail its upgrade with SQLITE_BUSY whatever the busy timeout.
            db.execute("BEGIN IMMEDIATE")
            try:
                claim = self._claim(db, key, fingerprint, owner, provider, lease, ttl)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return claim

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
        try:
            with _converted_errors():
                self._connection().execute("SELECT 1 FROM idempotency LIMIT 1").fetchall()
            return True
        except StoreUnavailableError:
            return False

    def _fenced_update(self, sql: str, parameters: tuple) -> bool:
        with _converted_errors(), self._writing:
            return self._connection().execute(sql, parameters).rowcount == 1

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: no implicit DEFERRED transactions; reserve() issues its own BEGIN IMMEDIATE.
            # timeout: how long a write waits for another connection's lock (SQLite's busy timeout).
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")  # readers never block the one writer; all on one host
            # NORMAL in WAL mode syncs at checkpoints, not per commit (10 us per keyed request more than OFF here;
            # FULL cost 30 times that). A record survives a worker's death; a power cut may lose the last commits
            # (and usually the node's temporary directory with them) but, unlike OFF, never corrupts the file.
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(SCHEMA)
            self._local.db = db
        return db

    def _purge_now_and_then(self, db: sqlite3.Connection) -> None:
        # Expired rows are already ignored by reserve(); deleting them keeps the file from growing. A batch a
        # minute per worker, under the write lock, so no single purge holds it for long.
        now = self.clock()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        db.execute("DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE expires_at <= ? LIMIT ?)",
                   (now, PURGE_BATCH))


@contextlib.contextmanager
def _converted_errors():
    """sqlite3 errors (locked past the busy timeout, disk full, unreadable file) as StoreUnavailableError."""
    try:
        yield
    except sqlite3.Error as error:
        raise StoreUnavailableError(f"sqlite: {type(error).__name__}: {error}") from error
