"""The suppression list in Redis: one hash of entries by address (a lookup is one HMGET), and an index to page it."""
from __future__ import annotations

import json
from typing import Iterable

from sendmailproxy.store import check_page_limit
from sendmailproxy.store.redis import RedisBackend
from sendmailproxy.suppression.store import Entry, SuppressionStore, address_cursor, cursor_address, listed

PREFIX = "sendmailproxy:suppression:"
ENTRIES, ADDRESSES = PREFIX + "entries", PREFIX + "addresses"  # hash address -> JSON; sorted set, all scores 0

# KEYS: entries, addresses. ARGV: address, JSON. The first entry stays: HSETNX.
ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
"""
# KEYS: entries, addresses. ARGV: address.
REMOVE = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
"""
# KEYS: entries, addresses. ARGV: the address after which to start ('' for the first), limit. Answers JSONs.
LIST = """
local start = ARGV[1] == '' and '-' or '(' .. ARGV[1]
local addresses = redis.call('ZRANGEBYLEX', KEYS[2], start, '+', 'LIMIT', 0, ARGV[2])
if #addresses == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(addresses))
"""


class RedisSuppressionStore(SuppressionStore):
    """Additions and lifts are scripts, so the hash and its index never disagree."""

    name = "redis"

    def __init__(self, backend: RedisBackend):
        self.backend = backend
        self._add, self._remove, self._list = backend.script(ADD), backend.script(REMOVE), backend.script(LIST)

    def lookup(self, addresses: Iterable[str]) -> dict[str, Entry]:
        wanted = list({address.lower() for address in addresses})
        if not wanted:
            return {}
        with self.backend.client() as client:
            found = client.hmget(ENTRIES, wanted)
        return {address: Entry.from_json(json.loads(text)) for address, text in zip(wanted, found) if text}

    def add(self, entry: Entry) -> bool:
        entry = listed(entry)
        return self.backend.run(self._add, [ENTRIES, ADDRESSES], [entry.address, json.dumps(entry.to_json())]) == 1

    def remove(self, address: str) -> bool:
        return self.backend.run(self._remove, [ENTRIES, ADDRESSES], [address.lower()]) == 1

    def list(self, after: str | None, limit: int) -> tuple[list[Entry], str]:
        check_page_limit(limit)
        texts = self.backend.run(self._list, [ENTRIES, ADDRESSES], [cursor_address(after), limit])
        entries = [Entry.from_json(json.loads(text)) for text in texts]
        return entries, address_cursor(entries[-1].address) if entries else after or ""

    def reachable(self) -> bool:
        return self.backend.reachable()
