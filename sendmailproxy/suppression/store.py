"""What a suppression store offers: one entry per address (case-insensitive), kept until lifted."""
from __future__ import annotations

import abc
import base64
import binascii
from dataclasses import asdict, dataclass
from typing import Iterable

REASONS = ("bounced", "complained", "unsubscribed", "dropped", "manual")


@dataclass(frozen=True)
class Entry:
    """Why `address` (lower-cased) gets no mail: the reason, who reported it and when (RFC 3339), and from
    which event (None when added by hand, with the operator's note)."""

    address: str
    reason: str
    provider: str | None
    since: str
    event_id: str | None = None
    note: str | None = None

    def to_json(self) -> dict:
        """The entry as the admin API shows it and the stores keep it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Entry":
        """The Entry to_json() showed."""
        return cls(**data)


class SuppressionStore(abc.ABC):
    """Entries by address; the first entry for an address stays until lifted, whatever is added after it."""

    name: str

    @abc.abstractmethod
    def lookup(self, addresses: Iterable[str]) -> dict[str, Entry]:
        """The entries of the listed ones among `addresses`, by lower-cased address, in one round trip."""

    @abc.abstractmethod
    def add(self, entry: Entry) -> bool:
        """List the entry's address; False if it was listed already (its first entry is kept)."""

    @abc.abstractmethod
    def remove(self, address: str) -> bool:
        """Lift the address; False if it was not listed."""

    @abc.abstractmethod
    def list(self, after: str | None, limit: int) -> tuple[list[Entry], str]:
        """Up to `limit` entries after the cursor `after`, by address, and the cursor for the next read (`after`
        itself at the end). ValueError for a malformed cursor or a limit off 1-1000."""

    @abc.abstractmethod
    def reachable(self) -> bool:
        """Whether the store answers now (for /healthcheck; never raises)."""


def listed(entry: Entry) -> Entry:
    """The entry as kept: its address lower-cased, its reason checked."""
    if entry.reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}")
    return Entry(**{**entry.to_json(), "address": entry.address.lower()})


def address_cursor(address: str) -> str:
    """The opaque cursor after `address` (base64url, so any address is safe in a query string)."""
    return base64.urlsafe_b64encode(address.encode()).decode().rstrip("=")


def cursor_address(after: str | None) -> str:
    """The address a cursor from address_cursor() stands for ('' for none); ValueError if it is not one."""
    if after is None:
        return ""
    try:
        return base64.b64decode(after + "=" * (-len(after) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("after is not a cursor this list gave") from None

