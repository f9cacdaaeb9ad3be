"""The shared store for many pods: Redis (or Valkey), one hash per key, every decision in a Lua script."""
from __future__ import annotations

import contextlib
import secrets
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sendmailproxy.idempotency.store import (
    Abandoned,
    Claim,
    Finished,
    InFlight,
    Mismatch,
    Reserved,
    Store,
    StoreUnavailableError,
)

KEY_PREFIX = "sendmailproxy:idempotency:"
TIMEOUT_SECONDS = 2.0  # connect and each reply; past it a keyed request is refused with 503, nothing sent

# The record is one hash that lives for its lease plus the TTL, with the lease as a field inside it: a lock
# key expiring with the lease would forget that a provider may have the message, and the retry would send it
# again. Times come from the Redis server's clock, so pods with skewed clocks agree on leases.
_NOW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
"""
# KEYS[1]; ARGV: fingerprint, owner, provider, lease ms, ttl ms. Mirrors SqliteStore._claim.
RESERVE = _NOW + """
local r = redis.call('HMGET', KEYS[1], 'fingerprint', 'state', 'owner', 'provider', 'lease_until', 'status', 'body')
if not r[1] then
  local lease, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'state', 'sending', 'owner', ARGV[2], 'provider', ARGV[3],
             'lease_until', now + lease)
  redis.call('PEXPIRE', KEYS[1], lease + ttl)
  return {'reserved'}
end
if r[1] ~= ARGV[1] then return {'mismatch'} end
if r[2] == 'done' then return {'done', r[6], r[7]} end
if r[3] == ARGV[2] then return {'reserved'} end  -- our own claim: its reply was lost and the call repeated
if r[2] == 'sending' and tonumber(r[5]) > now then return {'in_flight'} end
if r[2] == 'sending' then  -- its owner died or stalled while a provider had the message
  redis.call('HSET', KEYS[1], 'state', 'abandoned')
  redis.call('HDEL', KEYS[1], 'owner')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return {'abandoned', r[4]}
"""
# KEYS[1]; ARGV: owner, provider. An abandoned record has no owner.
MARK_SENDING = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'provider', ARGV[2])
return 1
"""
# KEYS[1]; ARGV: owner, status, body, ttl ms. An abandoned record has no owner.
FINISH = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'body', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""
# KEYS[1]; ARGV: owner.
RELEASE = """
local r = redis.call('HMGET', KEYS[1], 'owner', 'state')
if r[1] ~= ARGV[1] or r[2] ~= 'sending' then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisStore(Store):
    """Each operation is one script run atomically by Redis; `reserve` claims like SET NX, with a fencing token."""

    name = "redis"

    def __init__(self, url: str):
        self._url = url
        # Like SqliteStore: a connection per thread, opened by the thread that uses it (so never before gunicorn
        # forks), and no pool lock for 64 threads to queue on.
        self._local = threading.local()
        scripts = redis.Redis()  # only holds the scripts (their SHA1s); it never connects
        self._reserve = scripts.register_script(RESERVE)
        self._mark_sending = scripts.register_script(MARK_SENDING)
        self._finish = scripts.register_script(FINISH)
        self._release = scripts.register_script(RELEASE)

    def __repr__(self) -> str:
        return "RedisStore()"  # the URL may hold a password

    def reserve(self, key: str, fingerprint: str, provider: str, lease: float, ttl: float) -> Claim:
        owner = secrets.token_hex(16)
        with _converted_errors():
            answer = self._reserve([KEY_PREFIX + key], [fingerprint, owner, provider, _ms(lease), _ms(ttl)],
                                   self._client())
        kind = answer[0]
        if kind == "reserved":
            return Reserved(owner)
        if kind == "done":
            return Finished(int(answer[1]), answer[2])
        if kind == "abandoned":
            return Abandoned(answer[1])
        return InFlight() if kind == "in_flight" else Mismatch()

    def mark_sending(self, key: str, owner: str, provider: str) -> bool:
        with _converted_errors():
            return self._mark_sending([KEY_PREFIX + key], [owner, provider], self._client()) == 1

    def finish(self, key: str, owner: str, status: int, body: str, ttl: float) -> bool:
        with _converted_errors():
            return self._finish([KEY_PREFIX + key], [owner, status, body, _ms(ttl)], self._client()) == 1

    def release(self, key: str, owner: str) -> bool:
        with _converted_errors():
            return self._release([KEY_PREFIX + key], [owner], self._client()) == 1

    def reachable(self) -> bool:
        try:
            return bool(self._client().ping())
        except redis.RedisError:
            return False

    def _client(self) -> redis.Redis:
        client = getattr(self._local, "client", None)
        if client is None:
            # One retry, without delay: the connection may be stale after a Redis restart, and every script is
            # safe to run twice. It connects now, so a Redis that is down fails here, as a store error.
            client = self._local.client = redis.Redis.from_url(
                self._url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 1), decode_responses=True, single_connection_client=True)
        return client


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@contextlib.contextmanager
def _converted_errors():
    """Redis errors (refused, timed out, out of memory, read-only replica) as StoreUnavailableError."""
    try:
        yield
    except redis.RedisError as error:
        raise StoreUnavailableError(f"redis: {type(error).__name__}: {error}") from error
