"""The embedded backend: one SQLite file per node shared by every worker, in WAL mode, one connection per thread."""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Iterator

from sendmailproxy.store.errors import StoreUnavailableError

BUSY_TIMEOUT_SECONDS = 5.0


class SqliteBackend:
    """Connections, schemas and the process write lock for every user of the node's database file."""

    name = "sqlite"

    def __init__(self, path: str, busy_timeout: float = BUSY_TIMEOUT_SECONDS):
        self.path = path
        self.busy_timeout = busy_timeout
        self._schemas: list[str] = []
        # Connections are opened by the thread that uses them, so never before gunicorn forks (SQLite
        # connections must not cross a fork) and never shared between threads.
        self._local = threading.local()
        # Writers of this process queue here rather than in SQLite's busy handler, which sleeps for
        # milliseconds at a time where a write takes tens of microseconds. Readers never take it (WAL).
        self._write_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqliteBackend({self.path!r})"

    def register(self, schema: str) -> None:
        """Add a user's `CREATE ... IF NOT EXISTS` script; every connection runs it before its first use."""
        if schema not in self._schemas:
            self._schemas.append(schema)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, with every registered schema in place (raises sqlite3 errors)."""
        local = self._local
        db = getattr(local, "db", None)
        if db is None:
            # isolation_level=None: no implicit DEFERRED transactions; transaction() issues BEGIN IMMEDIATE.
            # timeout: how long a write waits for another connection's lock (SQLite's busy timeout).
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")  # readers never block the one writer; all on one host
            # NORMAL in WAL mode syncs at checkpoints, not per commit (10 us per keyed request more than OFF here;
            # FULL cost 30 times that). A record survives a worker's death; a power cut may lose the last commits
            # (and usually the node's temporary directory with them) but, unlike OFF, never corrupts the file.
            db.execute("PRAGMA synchronous = NORMAL")
            local.db, local.schemas = db, 0
        if local.schemas < len(self._schemas):  # a user registered after this thread connected
            for schema in self._schemas[local.schemas:]:
                db.executescript(schema)
            local.schemas = len(self._schemas)
        return db

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for reads: no lock, errors converted."""
        with _converted_errors():
            yield self.connection()

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection under the process write lock, for single-statement writes."""
        with _converted_errors(), self._write_lock:
            yield self.connection()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A `BEGIN IMMEDIATE` transaction under the write lock, committed at the end or rolled back on error."""
        with self.writing() as db:
            # IMMEDIATE takes the write lock before the first read, so two workers cannot both decide on the
            # same rows; a deferred transaction would fail its upgrade with SQLITE_BUSY whatever the busy timeout.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def reachable(self) -> bool:
        """Whether the file opens and answers now (for /healthcheck; never raises)."""
        try:
            with self.reading() as db:
                db.execute("SELECT 1").fetchall()
            return True
        except StoreUnavailableError:
            return False


class Every:
    """Housekeeping due once per `seconds` of a user's clock in this process (a purge batch now and then)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._next = 0.0

    def due(self, now: float) -> bool:
        """True at most once per period; the caller then does the work."""
        if now < self._next:
            return False
        self._next = now + self.seconds
        return True


@contextlib.contextmanager
def _converted_errors() -> Iterator[None]:
    """sqlite3 errors (locked past the busy timeout, disk full, unreadable file) as StoreUnavailableError."""
    try:
        yield
    except sqlite3.Error as error:
        raise StoreUnavailableError(f"sqlite: {type(error).__name__}: {error}") from error
