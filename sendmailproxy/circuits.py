"""Per-worker circuit state: a plain dict of immutable records, replaced whole, read without a lock.

Request threads only open circuits; the probe thread alone closes them. Every change bumps the
generation, and a result is applied only to the generation it was computed against, so a late
answer from an older state cannot change a newer one. Each write re-reads and replaces the record
under a short lock (never held across a provider call), so an older read never overwrites a newer
record; reads, and outcomes that change nothing, take no lock.

Probes of an open circuit follow the poll interval at first, then back off exponentially (with jitter)
to a cap; an answer that needs an operator (a revoked key, a suspended account) waits the whole cap.

Race we accept (see docs/failover.md section 2): a thread that read CLOSED just before another opened the
circuit may still send.
"""
from __future__ import annotations

import enum
import logging
import random
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from sendmailproxy.providers.base import Outcome, OutcomeKind

log = logging.getLogger(__name__)

PROBES_AT_POLL_INTERVAL = 3  # failed probes before the interval starts doubling
MAX_DOUBLINGS = 32  # far past any cap; keeps the power small however long a provider stays down


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True)
class Circuit:
    """One provider's circuit at one moment."""

    provider: str
    state: State = State.CLOSED
    generation: int = 0
    since: float = 0.0  # clock time of the last change
    failures: int = 0  # consecutive provider failures while closed
    last_failure: str | None = None  # the OutcomeKind value of the last provider failure
    last_reason: str = ""
    next_probe_at: float = 0.0  # while open
    probes: int = 0  # probes sent since the circuit opened

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED


class Circuits:
    """Every provider's circuit in this worker, driven by an injectable clock so tests need no threads."""

    def __init__(
        self,
        providers: Iterable[str],
        *,
        threshold: int = 1,
        poll_interval: float = 5.0,
        poll_max_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = lambda: random.uniform(0.75, 1.25),
        on_change: Callable[[Circuit, Circuit, str], None] | None = None,
    ):
        self._clock = clock
        self._jitter = jitter
        self._threshold = threshold
        self._poll_interval = poll_interval
        self._poll_max_interval = max(poll_interval, poll_max_interval)
        self._on_change = on_change
        now = clock()
        self._records = {name: Circuit(name, since=now) for name in providers}
        self._write_lock = threading.Lock()

    def __getitem__(self, provider: str) -> Circuit:
        return self._records[provider]

    def snapshot(self) -> list[Circuit]:
        return list(self._records.values())

    def record_outcome(self, seen: Circuit, outcome: Outcome) -> None:
        """From a request thread: count a provider failure (maybe opening) or reset the count on success."""
        current = self._records[seen.provider]
        if outcome.kind is OutcomeKind.REJECTED or current.generation != seen.generation or not current.closed:
            return
        if outcome.kind is OutcomeKind.ACCEPTED and not current.failures:
            return  # nothing changes: the common send path stays read-only and lock-free
        now, delay = self._clock(), self._probe_delay(outcome, failed_probes=0)
        with self._write_lock:
            current = self._records[seen.provider]
            if current.generation != seen.generation or not current.closed:
                return
            if outcome.kind is OutcomeKind.ACCEPTED:
                self._records[seen.provider] = replace(current, failures=0)
                return
            failed = replace(current, failures=current.failures + 1, last_failure=outcome.kind.value,
                             last_reason=outcome.reason)
            if failed.failures < self._threshold:
                self._records[seen.provider] = failed
                return
            opened = replace(failed, state=State.OPEN, generation=current.generation + 1, since=now, probes=0,
                             next_probe_at=now + delay)
            self._records[seen.provider] = opened
        self._announce(current, opened, outcome.reason)

    def due_probes(self) -> list[Circuit]:
        """Open circuits whose next probe is due."""
        now = self._clock()
        return [c for c in self._records.values() if not c.closed and c.next_probe_at <= now]

    def record_probe(self, seen: Circuit, outcome: Outcome) -> None:
        """From the probe thread alone: close on acceptance, else schedule the next probe."""
        now = self._clock()
        with self._write_lock:
            current = self._records[seen.provider]
            if current.closed or current.generation != seen.generation:
                return
            if outcome.kind is not OutcomeKind.ACCEPTED:
                delay = self._probe_delay(outcome, failed_probes=current.probes + 1)
                self._records[seen.provider] = replace(
                    current, probes=current.probes + 1, next_probe_at=now + delay,
                    last_failure=outcome.kind.value, last_reason=outcome.reason,
                )
                return
            closed = Circuit(current.provider, generation=current.generation + 1, since=now,
                             probes=current.probes + 1)
            self._records[seen.provider] = closed
        self._announce(current, closed, "probe accepted")

    def seconds_until_probe(self) -> float:
        """How long until the next probe of any open circuit (the 503's Retry-After)."""
        due = [c.next_probe_at for c in self._records.values() if not c.closed]
        return max(0.0, min(due) - self._clock()) if due else 0.0

    def _probe_delay(self, outcome: Outcome, failed_probes: int) -> float:
        if outcome.needs_an_operator:
            # Probing cannot fix a revoked key or a suspended account, and some probes are billed.
            return self._poll_max_interval
        backoff = 2 ** min(max(0, failed_probes - PROBES_AT_POLL_INTERVAL), MAX_DOUBLINGS)
        # Jitter keeps N workers from probing in lock-step; the cap is a true maximum; a 429's reset hint
        # is a floor (the provider asked for it).
        delay = min(self._poll_interval * backoff * self._jitter(), self._poll_max_interval)
        return max(delay, outcome.retry_after or 0.0)

    def _announce(self, old: Circuit, new: Circuit, reason: str) -> None:
        # Outside the write lock: a slow log handler or callback must not hold up other writers.
        log.log(
            logging.INFO if new.closed else logging.WARNING, "circuit %s", new.state.value,
            extra={"provider": new.provider, "from": old.state.value, "to": new.state.value,
                   "reason": reason, "generation": new.generation},
        )
        if self._on_change:
            self._on_change(old, new, reason)
