"""The suppression list in the node's SQLite database: one row per address."""
from __future__ import annotations

from typing import Iterable

from sendmailproxy.store import check_page_limit
from sendmailproxy.store.sqlite import SqliteBackend
from sendmailproxy.suppression.store import Entry, SuppressionStore, address_cursor, cursor_address, listed

SCHEMA = """
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    provider TEXT,
    since TEXT NOT NULL,
    event_id TEXT,
    note TEXT
) WITHOUT ROWID;
"""
COLUMNS = "address, reason, provider, since, event_id, note"


class SqliteSuppressionStore(SuppressionStore):
    """Lookups read without the process write lock (WAL readers never wait for the writer)."""

    name = "sqlite"

    def __init__(self, backend: SqliteBackend):
        self.backend = backend
        backend.register(SCHEMA)

    def lookup(self, addresses: Iterable[str]) -> dict[str, Entry]:
        wanted = list({address.lower() for address in addresses})
        if not wanted:
            return {}
        with self.backend.reading() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM suppressions WHERE address IN ({', '.join('?' * len(wanted))})",
                              wanted).fetchall()
        return {row[0]: Entry(*row) for row in rows}

    def add(self, entry: Entry) -> bool:
        entry = listed(entry)
        with self.backend.writing() as db:
            return db.execute(f"INSERT INTO suppressions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                              "ON CONFLICT (address) DO NOTHING",
                              (entry.address, entry.reason, entry.provider, entry.since, entry.event_id,
                               entry.note)).rowcount == 1

    def remove(self, address: str) -> bool:
        with self.backend.writing() as db:
            return db.execute("DELETE FROM suppressions WHERE address = ?", (address.lower(),)).rowcount == 1

    def list(self, after: str | None, limit: int) -> tuple[list[Entry], str]:
        check_page_limit(limit)
        start = cursor_address(after)
        with self.backend.reading() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM suppressions WHERE address > ? ORDER BY address LIMIT ?",
                              (start, limit)).fetchall()
        return [Entry(*row) for row in rows], address_cursor(rows[-1][0]) if rows else after or ""

    def reachable(self) -> bool:
        return self.backend.reachable()
