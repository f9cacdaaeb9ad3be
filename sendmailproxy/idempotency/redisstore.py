"""The shared store for many pods: Redis (or Valkey), one hash per key, every decision in a Lua script."""
from __future__ import annotations

import secrets

from sendmailproxy.idempotency.store import (
    Abandoned,
    Claim,
    Finished,
    InFlight,
    Mismatch,
    Reserved,
    Store,
)
from sendmailproxy.store.redis import NOW_MS, RedisBackend, ms

KEY_PREFIX = "sendmailproxy:idempotency:"

# The record is one hash that lives for its lease plus the TTL, with the lease as a field inside it: a lock
# key expiring with the lease would forget that a provider may have the message, and the retry would send it
# again. Times come from the Redis server's clock (NOW_MS), so pods with skewed clocks agree on leases.
# KEYS[1]; ARGV: fingerprint, owner, provider, lease ms, ttl ms. Mirrors SqliteStore._claim.
RESERVE = NOW_MS + """
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

    def __init__(self, backend: RedisBackend | str):
        # A URL opens a backend of its own (as tests do); open_store passes the service's shared one.
        self.backend = RedisBackend(backend) if isinstance(backend, str) else backend
        self._reserve = self.backend.script(RESERVE)
        self._mark_sending = self.backend.script(MARK_SENDING)
        self._finish = self.backend.script(FINISH)
        self._release = self.backend.script(RELEASE)

    def __repr__(self) -> str:
        return "RedisStore()"  # the URL may hold a password

    def reserve(self, key: str, fingerprint: str, provider: str, lease: float, ttl: float) -> Claim:
        owner = secrets.token_hex(16)
        answer = self.backend.run(self._reserve, [KEY_PREFIX + key], [fingerprint, owner, provider, ms(lease), ms(ttl)])
        kind = answer[0]
        if kind == "reserved":
            return Reserved(owner)
        if kind == "done":
            return Finished(int(answer[1]), answer[2])
        if kind == "abandoned":
            return Abandoned(answer[1])
        return InFlight() if kind == "in_flight" else Mismatch()

    def mark_sending(self, key: str, owner: str, provider: str) -> bool:
        return self.backend.run(self._mark_sending, [KEY_PREFIX + key], [owner, provider]) == 1

    def finish(self, key: str, owner: str, status: int, body: str, ttl: float) -> bool:
        return self.backend.run(self._finish, [KEY_PREFIX + key], [owner, status, body, ms(ttl)]) == 1

    def release(self, key: str, owner: str) -> bool:
        return self.backend.run(self._release, [KEY_PREFIX + key], [owner]) == 1

    def reachable(self) -> bool:
        return self.backend.reachable()
