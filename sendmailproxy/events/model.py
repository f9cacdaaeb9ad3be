"""The one event format every provider's webhook is normalised to (swagger.yaml's `Event`)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

# What happened to one message for one recipient (docs/events.md has every provider's mapping).
TYPES = ("delivered", "bounced", "deferred", "dropped", "complained", "unsubscribed", "opened", "clicked")


@dataclass(frozen=True)
class Event:
    """One event for one recipient. `suppresses` is internal: why this event puts the recipient on the
    suppression list (bounced, complained, unsubscribed, dropped), or None; it is never shown to clients."""

    id: str
    type: str
    provider: str
    message_id: str | None
    recipient: str
    occurred_at: str  # RFC 3339, UTC, "Z"
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    tags: tuple[str, ...] = ()
    suppresses: str | None = None

    def to_json(self) -> dict:
        """The Event as the feed and the push show it."""
        return {"id": self.id, "type": self.type, "provider": self.provider, "message_id": self.message_id,
                "recipient": self.recipient, "occurred_at": self.occurred_at, "reason": self.reason,
                "metadata": dict(self.metadata), "tags": list(self.tags)}

    @classmethod
    def from_json(cls, data: dict) -> "Event":
        """The Event to_json() showed (as a store keeps it; `suppresses` is not kept)."""
        return cls(id=data["id"], type=data["type"], provider=data["provider"], message_id=data["message_id"],
                   recipient=data["recipient"], occurred_at=data["occurred_at"], reason=data["reason"],
                   metadata=dict(data["metadata"]), tags=tuple(data["tags"]))


def event_id(provider: str, *dedupe_key: str) -> str:
    """The relay's id for an event: a hash of the provider and its own dedupe key, so a provider's retry of the
    same event gets the same id (and is stored once)."""
    digest = hashlib.sha256("\x1f".join((provider, *dedupe_key)).encode()).hexdigest()
    return "ev_" + digest[:32]


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its offset, as providers write it (Postmark's 7 fractional digits included)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return moment


def rfc3339(moment: datetime | float) -> str:
    """A time as RFC 3339 UTC with microseconds dropped when zero: 2026-12-03T13:23:06Z."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
