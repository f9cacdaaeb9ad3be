"""Shared fakes for the resilience core: a fake clock, and a wired `World` of strict fake providers."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

import pytest

from sendmailproxy.circuits import Circuit, Circuits
from sendmailproxy.dispatch import Dispatcher
from sendmailproxy.message import Address, Message
from sendmailproxy.probe import Prober
from sendmailproxy.providers.base import Outcome, OutcomeKind
from testkit.polling import wait_until
from testkit.providers import FakeProvider

POLL_INTERVAL = 10.0
POLL_MAX_INTERVAL = 60.0


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_outcome(kind: str, reason: str | None = None, *, retry_after: float | None = None,
                 message_id: str = "id-1") -> Outcome:
    """An Outcome by name: accepted, rejected, not_accepted, ambiguous, timeout (an ambiguous one), or
    operator (not accepted: a revoked key or a suspended account)."""
    if kind == "accepted":
        return Outcome(OutcomeKind.ACCEPTED, message_id=message_id, status=200)
    if kind == "rejected":
        return Outcome(OutcomeKind.REJECTED, reason or "invalid recipient", status=400)
    if kind == "not_accepted":
        return Outcome(OutcomeKind.NOT_ACCEPTED, reason or "connection refused",
                       status=429 if retry_after else None, retry_after=retry_after)
    if kind == "ambiguous":
        return Outcome(OutcomeKind.AMBIGUOUS, reason or "502 from provider", status=502)
    if kind == "timeout":
        return Outcome(OutcomeKind.AMBIGUOUS, reason or "read timeout", timed_out=True)
    if kind == "operator":
        return Outcome(OutcomeKind.NOT_ACCEPTED, reason or "account suspended", status=400, operator_must_act=True)
    raise ValueError(kind)


def make_message(n: int | str = 1) -> Message:
    """A distinct valid message for each `n`."""
    return Message(sender=Address("app@example.com"), to=(Address(f"user{n}@example.com"),),
                   subject=f"message {n}", text="hello")


@dataclass
class World:
    """Circuits, dispatcher and prober over strict fake providers, all on one clock; `changes` logs on_change."""

    clock: Callable[[], float]
    providers: dict[str, FakeProvider]
    circuits: Circuits
    dispatcher: Dispatcher
    prober: Prober
    poll_interval: float
    poll_max_interval: float
    jitter: float
    changes: list[tuple[Circuit, Circuit, str]] = field(default_factory=list)

    def open(self, name: str, outcome: Outcome | None = None) -> Circuit:
        """Open a closed circuit the way request threads do: enough consecutive provider failures."""
        while self.circuits[name].closed:
            self.circuits.record_outcome(self.circuits[name], outcome or make_outcome("not_accepted"))
        return self.circuits[name]

    def close(self, name: str) -> Circuit:
        """Close an open circuit the way the prober does: a due probe that is accepted."""
        circuit = self.circuits[name]
        self.circuits.record_probe(circuit, make_outcome("accepted", message_id="probe"))
        return self.circuits[name]

    def open_names(self) -> set[str]:
        return {c.provider for c in self.circuits.snapshot() if not c.closed}


def build_world(*names: str, threshold: int = 1, poll_interval: float = POLL_INTERVAL, jitter: float = 1.0,
                clock: Callable[[], float] | None = None,
                poll_max_interval: float = POLL_MAX_INTERVAL) -> World:
    """A World over providers `names` (default "p1", "p2"); a FakeClock unless a clock is given."""
    names = names or ("p1", "p2")
    clock = clock or FakeClock()
    providers = {name: FakeProvider(name, strict=True) for name in names}
    changes: list = []
    circuits = Circuits(names, threshold=threshold, poll_interval=poll_interval, poll_max_interval=poll_max_interval,
                        clock=clock, jitter=lambda: jitter,
                        on_change=lambda old, new, reason: changes.append((old, new, reason)))
    dispatcher = Dispatcher(list(providers.values()), circuits)
    prober = Prober(circuits, list(providers.values()), poll_interval=poll_interval, clock=clock)
    return World(clock, providers, circuits, dispatcher, prober, poll_interval, poll_max_interval, jitter, changes)


@pytest.fixture
def prober_threads():
    """A function listing the live prober threads started during this test (other tests' may linger)."""
    before = set(threading.enumerate())
    return lambda: [t for t in threading.enumerate() if t.name.startswith("prober-") and t not in before]


@pytest.fixture
def world_factory(prober_threads):
    """`build_world`; stops every prober thread the test started and waits for it to exit."""
    worlds: list[World] = []

    def factory(*names: str, **kwargs) -> World:
        worlds.append(build_world(*names, **kwargs))
        return worlds[-1]

    yield factory
    for world in worlds:
        world.prober.stop()
    wait_until(lambda: not prober_threads(), "prober threads to exit after the test")


@pytest.fixture
def world(world_factory) -> World:
    """Two providers, p1 then p2, threshold 1, poll interval 10 s, jitter 1, on a FakeClock."""
    return world_factory()


@pytest.fixture(name="make_outcome")
def make_outcome_fixture():
    return make_outcome


@pytest.fixture(name="make_message")
def make_message_fixture():
    return make_message


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    return wait_until


@pytest.fixture
def log_records(caplog):
    """A function returning the records logged so far by a module of the core (INFO and above)."""
    for module in ("circuits", "probe", "dispatch"):
        caplog.set_level(logging.INFO, logger=f"sendmailproxy.{module}")
    return lambda module: [r for r in caplog.records if r.name == f"sendmailproxy.{module}"]
