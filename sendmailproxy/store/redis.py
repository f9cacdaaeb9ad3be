"""The shared backend for many pods: Redis (or Valkey), one client per thread, every driver error converted."""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Sequence

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from sendmailproxy.store.errors import StoreUnavailableError

TIMEOUT_SECONDS = 2.0  # connect and each reply; past it the caller gets StoreUnavailableError

# A script's clock is the Redis server's, so pods with skewed clocks agree on leases and due times.
NOW_MS = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
"""


class RedisBackend:
    """Per-thread clients for one Redis URL, and the scripts its users register."""

    name = "redis"

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        self._url = url
        self._timeout = timeout
        # A connection per thread, opened by the thread that uses it (so never before gunicorn forks), and no
        # pool lock for 64 threads to queue on.
        self._local = threading.local()
        self._scripts = redis.Redis()  # only holds the scripts (their SHA1s); it never connects

    def __repr__(self) -> str:
        return "RedisBackend()"  # the URL may hold a password

    def script(self, source: str) -> Script:
        """A Lua script, loaded on first use by EVALSHA (run it with run())."""
        return self._scripts.register_script(source)

    def run(self, script: Script, keys: Sequence[str], args: Sequence) -> object:
        """Run `script` atomically on this thread's client; errors converted."""
        with self.client() as client:
            return script(keys, args, client)

    @contextlib.contextmanager
    def client(self) -> Iterator[redis.Redis]:
        """This thread's client (replies decoded as str); errors, connecting included, converted."""
        with _converted_errors():
            client = getattr(self._local, "client", None)
            if client is None:
                # One retry, without delay: the connection may be stale after a Redis restart, and every user's
                # command is safe to run twice. It connects now, so a Redis that is down fails here.
                client = self._local.client = redis.Redis.from_url(
                    self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout,
                    retry=Retry(NoBackoff(), 1), decode_responses=True, single_connection_client=True)
            yield client

    def reachable(self) -> bool:
        """Whether Redis answers PING now (for /healthcheck; never raises)."""
        try:
            with self.client() as client:
                return bool(client.ping())
        except StoreUnavailableError:
            return False


def ms(seconds: float) -> int:
    """Seconds as the whole milliseconds Redis expiries take, at least 1."""
    return max(1, round(seconds * 1000))


@contextlib.contextmanager
def _converted_errors() -> Iterator[None]:
    """Redis errors (refused, timed out, out of memory, read-only replica) as StoreUnavailableError."""
    try:
        yield
    except redis.RedisError as error:
        raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
