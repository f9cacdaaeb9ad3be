"""Events in Redis: a stream for the feed (and one per message id and recipient), a due-time sorted set for the push."""
from __future__ import annotations

import json
import re
from typing import Sequence

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
from sendmailproxy.store.redis import NOW_MS, RedisBackend, ms

PREFIX = "sendmailproxy:events:"
FEED = PREFIX + "feed"  # stream of every event
DUE = PREFIX + "push:due"  # sorted set: event id by due time (or lease end), ms
SINCE = PREFIX + "push:since"  # sorted set: event id by the time it was queued, ms (the backlog's age)
ATTEMPTS = PREFIX + "push:attempts"  # hash: event id -> attempts claimed so far
PENDING = PREFIX + "push:events"  # hash: event id -> the event's JSON, until delivered or given up
_CURSOR = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
# Each part of a stream id is below 2**64; the largest id has no id after it, so it is no cursor either.
_ID_PART_LIMIT = 2**64 - 1

# The feed is a stream: its entry ids are the cursor, strictly increasing in the order received even when the
# server's clock steps back, and MINID trims entries past the TTL as they are added. Filtered reads use a stream
# per message id and per recipient holding copies under the same entry ids, so the one cursor works on all three
# and a filtered read costs one XRANGE on a short stream. Event ids and nonces are keys that expire.
#
# The push queue is a sorted set of event ids scored by due time, in milliseconds of the server's clock. A claim
# moves the score of the due members to now + lease in the same script, so the score is both the retry schedule
# and the lease: no other claim sees them until it runs out, and a dead sender's deliveries come due again by
# themselves. A stream with a consumer group was the other choice, but it has no due time: every retry of the
# schedule (up to a day away) would need a second structure beside it, and XAUTOCLAIM takes over by one idle
# time for all, where the sorted set keeps each delivery's own time.
#
# KEYS: feed, due, since, attempts, pending, nonce (or ''), then per event: seen, by message (or ''), by recipient.
# ARGV: body SHA-256 (or ''), max_age ms, keep ms, ttl ms, push (1 or 0), then per event: id, JSON.
ADD = NOW_MS + """
if ARGV[1] ~= '' then
  local stored = redis.call('GET', KEYS[6])
  if stored == ARGV[1] then return {'duplicate'} end
  if stored then return {'nonce_reused'} end
  redis.call('SET', KEYS[6], ARGV[1], 'PX', ARGV[2])
end
local ttl = tonumber(ARGV[4])
local minid = string.format('%d', now - ttl)
local answer = {'added'}
for i = 0, (#KEYS - 6) / 3 - 1 do
  local id, event = ARGV[6 + 2 * i], ARGV[7 + 2 * i]
  if redis.call('SET', KEYS[7 + 3 * i], '1', 'NX', 'PX', ARGV[3]) then
    local entry = redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*', 'event', event)
    for _, index in ipairs({KEYS[8 + 3 * i], KEYS[9 + 3 * i]}) do
      if index ~= '' then
        redis.call('XADD', index, 'MINID', '~', minid, entry, 'event', event)
        redis.call('PEXPIRE', index, ttl)
      end
    end
    if ARGV[5] == '1' then
      redis.call('ZADD', KEYS[2], now, id)
      redis.call('ZADD', KEYS[3], now, id)
      redis.call('HSET', KEYS[5], id, event)
    end
    answer[#answer + 1] = id
  end
end
return answer
"""
# KEYS: a stream. ARGV: the cursor ('' for none), limit, ttl ms. Entries past the TTL that MINID's approximate
# trimming left (it frees whole nodes of entries) are skipped by starting the range at now - ttl.
FEED_READ = NOW_MS + """
local start = string.format('%d', now - tonumber(ARGV[3]))
if ARGV[1] ~= '' and tonumber(string.match(ARGV[1], '^(%d+)-')) >= now - tonumber(ARGV[3]) then
  start = '(' .. ARGV[1]
end
return redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[2])
"""
# KEYS: due, attempts, pending. ARGV: limit, lease ms. Answers id, attempt, JSON for each delivery claimed.
CLAIM = NOW_MS + """
local answer = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
  answer[#answer + 1] = id
  answer[#answer + 1] = redis.call('HINCRBY', KEYS[2], id, 1)
  answer[#answer + 1] = redis.call('HGET', KEYS[3], id)
end
return answer
"""
# KEYS: due. ARGV: id, delay ms. XX: a delivery already taken off the queue stays off.
RETRY = NOW_MS + """
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
"""
# KEYS: due, since, attempts, pending. ARGV: id.
FORGET = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[4], ARGV[1])
"""
# KEYS: since. Answers the count, the oldest enqueue time (or false) and now, all in ms.
BACKLOG = NOW_MS + """
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {redis.call('ZCARD', KEYS[1]), oldest[2] or false, now}
"""


class RedisEventStore(EventStore):
    """Each add() one script, so a POST's events, their dedupe ids and their deliveries are written together."""

    name = "redis"

    def __init__(self, backend: RedisBackend, ttl: float = EVENTS_TTL_SECONDS, max_age: float = MAX_AGE_SECONDS,
                 push: bool = False):
        self.backend = backend
        self.ttl, self.max_age, self.push = ttl, max_age, push
        self._add, self._feed, self._claim = backend.script(ADD), backend.script(FEED_READ), backend.script(CLAIM)
        self._retry, self._forget, self._backlog = backend.script(RETRY), backend.script(FORGET), backend.script(BACKLOG)

    def add(self, events: Sequence[Event], nonce: tuple[str, str] | None = None) -> AddResult | NonceReused:
        keys = [FEED, DUE, SINCE, ATTEMPTS, PENDING, PREFIX + "nonce:" + nonce[0] if nonce else ""]
        args = [nonce[1] if nonce else "", ms(self.max_age), ms(max(self.ttl, self.max_age)), ms(self.ttl),
                int(self.push)]
        for event in events:
            keys += [PREFIX + "seen:" + event.id, _by_message(event.message_id), _by_recipient(event.recipient)]
            args += [event.id, json.dumps(event.to_json())]
        answer = self.backend.run(self._add, keys, args)
        if answer[0] == "nonce_reused":
            return NonceReused()
        new, stored = [], set(answer[1:])
        for event in events:
            if event.id in stored:  # once, should a POST repeat an event
                stored.remove(event.id)
                new.append(event)
        return AddResult(new)

    def feed(self, after: str | None, limit: int, message_id: str | None = None,
             recipient: str | None = None) -> tuple[list[Event], str]:
        check_page_limit(limit)
        if after is not None and not _is_cursor(after):
            raise ValueError("after is not a cursor this feed gave")
        key = FEED if message_id is None and recipient is None else (
            _by_message(message_id) if message_id is not None else _by_recipient(recipient))
        entries = self.backend.run(self._feed, [key], [after or "", limit, ms(self.ttl)])
        events = [Event.from_json(json.loads(fields[1])) for _, fields in entries]  # fields: ['event', JSON]
        if message_id is not None and recipient is not None:  # read the message's stream, the shorter one
            events = [event for event in events if event.recipient == recipient.lower()]
        return events, entries[-1][0] if entries else after or "0-0"

    def claim(self, limit: int, lease: float) -> list[Delivery]:
        answer = self.backend.run(self._claim, [DUE, ATTEMPTS, PENDING], [limit, ms(lease)])
        return [Delivery(Event.from_json(json.loads(answer[i + 2])), int(answer[i + 1]))
                for i in range(0, len(answer), 3)]

    def succeed(self, event_id: str) -> None:
        self.backend.run(self._forget, [DUE, SINCE, ATTEMPTS, PENDING], [event_id])

    def retry(self, event_id: str, delay: float) -> None:
        self.backend.run(self._retry, [DUE], [event_id, round(delay * 1000)])

    def give_up(self, event_id: str) -> None:
        self.backend.run(self._forget, [DUE, SINCE, ATTEMPTS, PENDING], [event_id])

    def backlog(self) -> Backlog:
        waiting, oldest, now = self.backend.run(self._backlog, [SINCE], [])
        return Backlog(waiting, 0.0 if oldest is None else max(0.0, (now - float(oldest)) / 1000))

    def reachable(self) -> bool:
        return self.backend.reachable()


def _is_cursor(after: str) -> bool:
    """Whether `after` is a stream id the feed could have given (Redis refuses others as an error)."""
    match = _CURSOR.fullmatch(after)
    return match is not None and all(int(part) < _ID_PART_LIMIT for part in match.groups())


def _by_message(message_id: str | None) -> str:
    return "" if message_id is None else PREFIX + "message:" + message_id


def _by_recipient(recipient: str) -> str:
    return PREFIX + "recipient:" + recipient.lower()
