"""Events in the node's SQLite database: a rowid sequence for the feed, a table of due deliveries for the push."""
from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Callable, Sequence

from sendmailproxy.events.model import Event
from sendmailproxy.events.store import (
    EVENTS_TTL_SECONDS,
    MAX_AGE_SECONDS,
    AddResult,
    Backlog,
    Delivery,
    EventStore,
    NonceReused,
)
from sendmailproxy.store import check_page_limit
from sendmailproxy.store.sqlite import Every, SqliteBackend

PURGE_EVERY_SECONDS = 60
PURGE_BATCH = 1000
_CURSOR = re.compile(r"[0-9]{1,19}")
MAX_SEQ = 2**63 - 1  # SQLite's largest INTEGER: a larger cursor cannot even be compared

# AUTOINCREMENT: a purged sequence number is never handed out again, so a client's cursor never skips an event.
# Rows are written under the write lock, so sequence order is commit order: a reader never sees 5 before 4.
# A row lives max(ttl, max_age) so its id keeps deduping; the feed shows it for ttl. A delivery's due_at is
# also its lease: claim() pushes it to now + lease, so one column says both "when" and "whose".
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    message_id TEXT,
    recipient TEXT NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_message ON events (message_id, seq);
CREATE INDEX IF NOT EXISTS events_by_recipient ON events (recipient, seq);
CREATE INDEX IF NOT EXISTS events_by_age ON events (received_at);
CREATE TABLE IF NOT EXISTS webhook_nonces (
    token TEXT PRIMARY KEY,
    body_sha256 TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_nonces_expiry ON webhook_nonces (expires_at);
CREATE TABLE IF NOT EXISTS event_deliveries (
    event_id TEXT PRIMARY KEY,
    due_at REAL NOT NULL,
    attempt INTEGER NOT NULL,
    enqueued_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_deliveries_due ON event_deliveries (due_at);
CREATE INDEX IF NOT EXISTS event_deliveries_age ON event_deliveries (enqueued_at);
"""


class SqliteEventStore(EventStore):
    """Each add() one `BEGIN IMMEDIATE` transaction; feed reads take no lock."""

    name = "sqlite"

    def __init__(self, backend: SqliteBackend, ttl: float = EVENTS_TTL_SECONDS, max_age: float = MAX_AGE_SECONDS,
                 push: bool = False, clock: Callable[[], float] = time.time):
        self.backend = backend
        backend.register(SCHEMA)
        self.ttl, self.max_age, self.push = ttl, max_age, push
        self.clock = clock
        self._purge = Every(PURGE_EVERY_SECONDS)

    def add(self, events: Sequence[Event], nonce: tuple[str, str] | None = None) -> AddResult | NonceReused:
        now, new = self.clock(), []
        with self.backend.transaction() as db:
            if nonce is not None:
                token, body_sha256 = nonce
                row = db.execute("SELECT body_sha256 FROM webhook_nonces WHERE token = ? AND expires_at > ?",
                                 (token, now)).fetchone()
                if row is not None:
                    return AddResult([]) if row[0] == body_sha256 else NonceReused()
                db.execute("INSERT OR REPLACE INTO webhook_nonces (token, body_sha256, expires_at) VALUES (?, ?, ?)",
                           (token, body_sha256, now + self.max_age))
            for event in events:
                if db.execute("INSERT INTO events (id, message_id, recipient, received_at, body) VALUES (?, ?, ?, ?, ?) "
                              "ON CONFLICT (id) DO NOTHING", (event.id, event.message_id, event.recipient.lower(), now,
                                                              json.dumps(event.to_json()))).rowcount:
                    new.append(event)
                    if self.push:
                        db.execute("INSERT OR REPLACE INTO event_deliveries (event_id, due_at, attempt, enqueued_at) "
                                   "VALUES (?, ?, 0, ?)", (event.id, now, now))
            if self._purge.due(now):
                self._purge_batch(db, now)
        return AddResult(new)

    def feed(self, after: str | None, limit: int, message_id: str | None = None,
             recipient: str | None = None) -> tuple[list[Event], str]:
        check_page_limit(limit)
        seq = _parse_cursor(after)
        where, parameters = ["seq > ?", "received_at > ?"], [seq, self.clock() - self.ttl]
        if message_id is not None:
            where.append("message_id = ?")
            parameters.append(message_id)
        if recipient is not None:
            where.append("recipient = ?")
            parameters.append(recipient.lower())
        with self.backend.reading() as db:
            rows = db.execute(f"SELECT seq, body FROM events WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
                              (*parameters, limit)).fetchall()
        events = [Event.from_json(json.loads(body)) for _, body in rows]
        return events, str(rows[-1][0] if rows else seq)

    def claim(self, limit: int, lease: float) -> list[Delivery]:
        now = self.clock()
        with self.backend.transaction() as db:
            rows = db.execute("SELECT d.event_id, d.attempt + 1, e.body FROM event_deliveries d "
                              "JOIN events e ON e.id = d.event_id WHERE d.due_at <= ? ORDER BY d.due_at LIMIT ?",
                              (now, limit)).fetchall()
            db.executemany("UPDATE event_deliveries SET due_at = ?, attempt = attempt + 1 WHERE event_id = ?",
                           [(now + lease, event_id) for event_id, _, _ in rows])
        return [Delivery(Event.from_json(json.loads(body)), attempt) for _, attempt, body in rows]

    def succeed(self, event_id: str) -> None:
        self._forget(event_id)

    def retry(self, event_id: str, delay: float) -> None:
        with self.backend.writing() as db:
            db.execute("UPDATE event_deliveries SET due_at = ? WHERE event_id = ?", (self.clock() + delay, event_id))

    def give_up(self, event_id: str) -> None:
        self._forget(event_id)

    def backlog(self) -> Backlog:
        with self.backend.reading() as db:
            waiting, oldest = db.execute("SELECT count(*), min(enqueued_at) FROM event_deliveries").fetchone()
        return Backlog(waiting, 0.0 if oldest is None else max(0.0, self.clock() - oldest))

    def reachable(self) -> bool:
        return self.backend.reachable()

    def _forget(self, event_id: str) -> None:
        with self.backend.writing() as db:
            db.execute("DELETE FROM event_deliveries WHERE event_id = ?", (event_id,))

    def _purge_batch(self, db: sqlite3.Connection, now: float) -> None:
        # A batch a minute per worker, inside a write already under way, so no purge holds the lock for long.
        # Deliveries go with their events: a delivery older than that has been given up long since.
        forget_before = now - max(self.ttl, self.max_age)
        db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE received_at <= ? LIMIT ?)",
                   (forget_before, PURGE_BATCH))
        db.execute("DELETE FROM event_deliveries WHERE event_id IN "
                   "(SELECT event_id FROM event_deliveries WHERE enqueued_at <= ? LIMIT ?)",
                   (now - self.ttl, PURGE_BATCH))
        db.execute("DELETE FROM webhook_nonces WHERE token IN "
                   "(SELECT token FROM webhook_nonces WHERE expires_at <= ? LIMIT ?)", (now, PURGE_BATCH))


def _parse_cursor(after: str | None) -> int:
    if after is None:
        return 0
    if not _CURSOR.fullmatch(after) or int(after) > MAX_SEQ:
        raise ValueError("after is not a cursor this feed gave")
    return int(after)
