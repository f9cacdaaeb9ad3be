"""How every adapter writes its reasons: a provider's words on one line, bounded in length, with no secret."""
from __future__ import annotations

import dataclasses

from sendmailproxy.providers.base import Outcome

REASON_LIMIT = 500
REDACTED = "[redacted]"


def one_line(text: bytes | str) -> str:
    """A provider's words (bytes read as UTF-8) as one line: runs of whitespace and line ends become one space."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(text.split())


def truncate(text: str) -> str:
    """At most REASON_LIMIT characters: a provider's answer can be a whole HTML page."""
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def redact(outcome: Outcome, secret: str) -> Outcome:
    """The outcome without `secret` in its reason: a provider, proxy or relay could echo a key back."""
    if secret and secret in outcome.reason:
        return dataclasses.replace(outcome, reason=outcome.reason.replace(secret, REDACTED))
    return outcome
