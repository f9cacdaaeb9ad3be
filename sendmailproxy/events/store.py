"""What an events store offers: events kept once each and read as a feed, and the queue that pushes them."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from sendmailproxy.events.model import Event

EVENTS_TTL_SECONDS = 604800.0  # SMSP_EVENTS_TTL's default: how long the feed shows an event
MAX_AGE_SECONDS = 129600.0  # SMSP_WEBHOOK_MAX_AGE's default: how long nonces and event ids are remembered


@dataclass(frozen=True)
class AddResult:
    """The events of one webhook POST that were not stored before (a provider's retry adds none)."""

    new: list[Event]


@dataclass(frozen=True)
class NonceReused:
    """The webhook's single-use token came before with another body: refuse the POST, nothing was stored."""


@dataclass(frozen=True)
class Delivery:
    """An event leased to one sender for one push attempt (1 for the first)."""

    event: Event
    attempt: int


class Backlog(NamedTuple):
    """Deliveries waiting (due, leased or scheduled for a retry), and how long the oldest has waited."""

    waiting: int
    oldest_age: float


class EventStore(abc.ABC):
    """Events kept `ttl` seconds; their ids and the webhook nonces remembered at least `max_age` seconds. With
    `push`, every new event is queued for delivery in the same atomic write that stores it."""

    name: str

    @abc.abstractmethod
    def add(self, events: Sequence[Event], nonce: tuple[str, str] | None = None) -> AddResult | NonceReused:
        """Store one webhook POST's events atomically, each once by id. `nonce` is (token, body SHA-256): the same
        token with the same body is a duplicate (nothing new), with another body NonceReused."""

    @abc.abstractmethod
    def feed(self, after: str | None, limit: int, message_id: str | None = None,
             recipient: str | None = None) -> tuple[list[Event], str]:
        """Up to `limit` events received after the cursor `after`, oldest first, and the cursor for the next read
        (`after` itself when there is nothing newer). ValueError for a malformed cursor or a limit off 1-1000."""

    @abc.abstractmethod
    def claim(self, limit: int, lease: float) -> list[Delivery]:
        """Up to `limit` due deliveries, leased to the caller for `lease` seconds: no other claim gets them before
        the lease runs out (then another sender takes over a dead one's)."""

    @abc.abstractmethod
    def succeed(self, event_id: str) -> None:
        """The event was delivered: take it off the queue."""

    @abc.abstractmethod
    def retry(self, event_id: str, delay: float) -> None:
        """The attempt failed: the delivery is due again in `delay` seconds (on the store's clock)."""

    @abc.abstractmethod
    def give_up(self, event_id: str) -> None:
        """No more attempts: take it off the queue (the event stays in the feed)."""

    @abc.abstractmethod
    def backlog(self) -> Backlog:
        """What waits to be pushed (for /healthcheck)."""

    @abc.abstractmethod
    def reachable(self) -> bool:
        """Whether the store answers now (for /healthcheck; never raises)."""

