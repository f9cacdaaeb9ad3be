"""What an idempotency store offers: one record per key, reserved atomically, then written only by its owner."""
from __future__ import annotations

import abc
from dataclasses import dataclass

from sendmailproxy.store import StoreUnavailableError as StoreUnavailableError  # re-exported for the guard

# A record's life: SENDING (reserved right before the first provider call, which it names) -> DONE (the answer
# is kept for the TTL). A lease that runs out while SENDING makes the record ABANDONED: a provider may have the
# message, so the outcome is unknown for good and the message is never sent again under this key. There is no
# "claimed" state before SENDING: the reservation is made at the last moment before a provider call, so a
# request that dies after it may have sent, and nothing could be gained by taking its key over.
SENDING, DONE, ABANDONED = "sending", "done", "abandoned"


@dataclass(frozen=True)
class Reserved:
    """The key is ours until the lease ends: send, then finish or release with this owner token."""

    owner: str


@dataclass(frozen=True)
class Finished:
    """An earlier request with this key and message ended with this answer."""

    status: int
    body: str  # JSON text, as stored


@dataclass(frozen=True)
class Abandoned:
    """An earlier request's lease ran out while `provider` had the message: the outcome is unknown."""

    provider: str


@dataclass(frozen=True)
class InFlight:
    """An earlier request with this key is still running."""


@dataclass(frozen=True)
class Mismatch:
    """This key was used for a different message."""


Claim = Reserved | Finished | Abandoned | InFlight | Mismatch


class Store(abc.ABC):
    """Records by key (already hashed and scoped). Every write after `reserve` is fenced by the owner token."""

    name: str

    @abc.abstractmethod
    def reserve(self, key: str, fingerprint: str, provider: str, lease: float, ttl: float) -> Claim:
        """Atomically claim `key` for `lease` seconds as `provider` is about to get the message, or say what holds
        it. A record lives `ttl` after its lease."""

    @abc.abstractmethod
    def mark_sending(self, key: str, owner: str, provider: str) -> bool:
        """Record that `provider` (failing over) is about to get the message; False if the key was given up."""

    @abc.abstractmethod
    def finish(self, key: str, owner: str, status: int, body: str, ttl: float) -> bool:
        """Keep the answer for `ttl` seconds; False if another request has given the key up meanwhile."""

    @abc.abstractmethod
    def release(self, key: str, owner: str) -> bool:
        """Forget the key (nothing was sent), so a retry may send; False if it is no longer ours."""

    @abc.abstractmethod
    def reachable(self) -> bool:
        """Whether the store answers now (for /healthcheck; never raises)."""
