"""What a webhook verifier decides about one request: Accepted with its events, or Refused with a status."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

from .model import Event

# A signed timestamp this far ahead of our clock is refused (clock skew allowed, no more).
MAX_AHEAD_S = 300


@dataclass(frozen=True)
class Nonce:
    """A Mailgun token and the sha256 of the body it came with: the store remembers it at least max_age
    seconds; the same token with the same body is a duplicate, with another body a replay to refuse."""

    token: str
    body_sha256: str


@dataclass(frozen=True)
class Accepted:
    """Authentic and well formed: store `events` (`skipped` counts events we do not keep), remember `nonce`,
    and GET `confirm_url` (an SNS subscription to confirm)."""

    events: tuple[Event, ...]
    nonce: Nonce | None = None
    confirm_url: str | None = None
    skipped: int = 0


@dataclass(frozen=True)
class Refused:
    """Nothing may be stored: 401 authentication failed, 400 malformed, 503 try again later."""

    status: int
    reason: str


Verdict = Accepted | Refused


class Webhook(Protocol):
    """A provider's verifier. `headers` as Flask's request.headers (names in any case), `body` the raw bytes,
    `now` the Unix time the replay window is measured from."""

    def receive(self, body: bytes, headers: Mapping[str, str], now: float) -> Verdict: ...


class Refusal(Exception):
    """Raised inside a verifier; `verdict_of` turns it into a Refused."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def unauthenticated(reason: str) -> Refusal:
    return Refusal(401, reason)


def malformed(reason: str) -> Refusal:
    return Refusal(400, reason)


def verdict_of(receive: Callable[[], Verdict]) -> Verdict:
    """Run a verifier: a Refusal, or a body of the wrong shape (a missing key, a wrong type, bad JSON, bad
    base64), ends in a Refused; no exception escapes."""
    try:
        return receive()
    except Refusal as refusal:
        return Refused(refusal.status, refusal.reason)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        return Refused(400, f"malformed body: {type(exc).__name__} {exc}")
    except (ValueError, OverflowError) as exc:  # JSON, UTF-8, numbers, dates, base64; times out of range
        return Refused(400, f"malformed body: {exc}")


def check_fresh(signed_at: float, now: float, max_age: float) -> None:
    """Refuse a signed timestamp older than max_age seconds or more than MAX_AHEAD_S ahead: a replay."""
    if signed_at < now - max_age:
        raise unauthenticated(f"signed timestamp older than {max_age:g} s")
    if signed_at > now + MAX_AHEAD_S:
        raise unauthenticated(f"signed timestamp more than {MAX_AHEAD_S} s ahead")


def parse_json(body: bytes):
    """The body as JSON, any shape; malformed when it is not JSON in UTF-8."""
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise malformed(f"not JSON: {exc}") from None


def as_text(value) -> str:
    """A JSON field that must be a string."""
    if not isinstance(value, str):
        raise malformed(f"expected a string, not {type(value).__name__}")
    return value
