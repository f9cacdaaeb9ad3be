"""What follows an attempt: done, another attempt after a delay, or no more attempts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sendmailproxy.push.transport import Answer, Result


@dataclass(frozen=True)
class Delivered:
    """A 2xx: take the event off the queue."""


@dataclass(frozen=True)
class Retry:
    """Try again in `delay` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """No more attempts: the last one failed, or the receiver answered 410."""

    gone: bool


Step = Delivered | Retry | GiveUp


def next_step(schedule: Sequence[float], attempt: int, answer: Answer) -> Step:
    """After attempt number `attempt` (1 for the first) got `answer`: the schedule's delay before the next one,
    raised to the receiver's Retry-After (but never past the schedule's longest delay), or the end."""
    if answer.result is Result.DELIVERED:
        return Delivered()
    if answer.result is Result.GONE:
        return GiveUp(gone=True)
    if attempt >= len(schedule):
        return GiveUp(gone=False)
    delay = schedule[attempt]
    if answer.retry_after is not None:
        # A receiver asking for a year must not park the event past the schedule's own patience.
        delay = max(delay, min(answer.retry_after, max(schedule)))
    return Retry(delay)
