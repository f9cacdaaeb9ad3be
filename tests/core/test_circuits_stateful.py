"""Stateful property test: random sends, clock moves, probes and late results against a model."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sendmailproxy.circuits import PROBES_AT_POLL_INTERVAL, State
from sendmailproxy.dispatch import Delivery
from sendmailproxy.errors import (
    AllCircuitsOpenError,
    AllProvidersFailedError,
    OutcomeUnknownError,
    ProviderTimeoutError,
    RejectedByProviderError,
    SendError,
)

NAMES = ("p1", "p2", "p3")
SEND_KINDS = ["accepted", "rejected", "not_accepted", "ambiguous", "timeout"]
PROBE_RESULTS = ["accepted", "not_accepted", "ambiguous", "raises"]
RETRY_AFTER = st.sampled_from([None, None, 3.0, 45.0])


@dataclass
class Model:
    """What one provider's circuit should be."""

    state: State = State.CLOSED
    generation: int = 0
    failures: int = 0
    next_probe_at: float = 0.0
    failed_probes: int = 0  # since it opened


class CircuitMachine(RuleBasedStateMachine):
    """Drives Dispatcher, Circuits and Prober.probe_due() (no thread) over scripted providers, fake clock."""

    def __init__(self, world_factory, make_outcome, make_message):
        super().__init__()
        self.world_factory = world_factory
        self.make_outcome = make_outcome
        self.make_message = make_message
        self.sends_along_open: list[str] = []
        self.seen: list = []  # every Circuit record observed, for late results
        self.sent = 0

    @initialize(count=st.integers(1, 3), threshold=st.integers(1, 3))
    def build(self, count, threshold):
        self.names = NAMES[:count]
        self.world = self.world_factory(*self.names, threshold=threshold)
        self.threshold = threshold
        self.model = {name: Model() for name in self.names}
        self.generations = {name: 0 for name in self.names}
        self.sends = {name: 0 for name in self.names}
        for provider in self.world.providers.values():
            provider.on_send = self.check_send_allowed

    def check_send_allowed(self, provider, message):
        if not self.world.circuits[provider.name].closed:
            self.sends_along_open.append(provider.name)

    # Helpers

    def delay(self, retry_after, failed_probes=0):
        backoff = 2 ** max(0, failed_probes - PROBES_AT_POLL_INTERVAL)
        interval = min(self.world.poll_interval * self.world.jitter * backoff, self.world.poll_max_interval)
        return max(interval, retry_after or 0.0)

    def outcome(self, kind, retry_after):
        return self.make_outcome(kind, retry_after=retry_after if kind == "not_accepted" else None,
                                 message_id=f"id-{self.sent}")

    def new_changes(self, before: int) -> list[tuple[State, State]]:
        return [(old.state, new.state) for old, new, _ in self.world.changes[before:]]

    def remember(self):
        self.seen.extend(self.world.circuits.snapshot())
        del self.seen[:-60]

    def stale(self, state: State) -> list:
        circuits = self.world.circuits
        return [c for c in self.seen if c.state is state and c.generation != circuits[c.provider].generation]

    # Rules

    @rule(kinds=st.lists(st.sampled_from(SEND_KINDS), min_size=3, max_size=3), retry_after=RETRY_AFTER)
    def send(self, kinds, retry_after):
        self.sent += 1
        circuits, now = self.world.circuits, self.world.clock()
        scripted = dict(zip(self.names, kinds))
        for name, kind in scripted.items():
            self.world.providers[name].will_send(self.outcome(kind, retry_after))
        before = {name: circuits[name] for name in self.names}
        changes_before = len(self.world.changes)
        all_open = not any(c.closed for c in before.values())

        try:
            result = self.world.dispatcher.send(self.make_message(self.sent))
        except SendError as error:
            result = error

        # What the failover table says, and what each tried circuit becomes.
        tried = []
        expected = AllCircuitsOpenError
        for name in self.names:
            if self.model[name].state is State.OPEN:
                continue
            tried.append(name)
            kind = scripted[name]
            if kind == "accepted":
                self.model[name].failures = 0
                expected = name
                break
            if kind == "rejected":
                expected = RejectedByProviderError
                break
            model = self.model[name]
            model.failures += 1
            if model.failures >= self.threshold:
                model.state, model.generation, model.failed_probes = State.OPEN, model.generation + 1, 0
                model.next_probe_at = now + self.delay(retry_after if kind == "not_accepted" else None)
            if kind != "not_accepted":
                expected = ProviderTimeoutError if kind == "timeout" else OutcomeUnknownError
                break
            expected = AllProvidersFailedError

        if isinstance(expected, str):
            assert isinstance(result, Delivery) and result.provider == expected, result
        else:
            assert type(result) is expected, result
        assert isinstance(result, AllCircuitsOpenError) == all_open  # 503 iff every circuit is open
        assert [a.provider for a in result.attempts] == tried
        for name in tried:
            self.sends[name] += 1
            if scripted[name] == "rejected":
                assert circuits[name] is before[name]  # rejected never changes state
        assert {name: len(self.world.providers[name].sent) for name in self.names} == self.sends
        assert all(change == (State.CLOSED, State.OPEN) for change in self.new_changes(changes_before))
        for provider in self.world.providers.values():
            provider.forget_script()
        self.remember()

    @rule(seconds=st.floats(0, 60, allow_nan=False))
    def advance(self, seconds):
        self.world.clock.advance(seconds)

    @rule(results=st.lists(st.sampled_from(PROBE_RESULTS), min_size=3, max_size=3), retry_after=RETRY_AFTER)
    def probe(self, results, retry_after):
        now = self.world.clock()
        scripted = dict(zip(self.names, results))
        for name, result in scripted.items():
            self.world.providers[name].will_probe(
                RuntimeError("probe bug") if result == "raises" else self.outcome(result, retry_after))
        due = [name for name, model in self.model.items()
               if model.state is State.OPEN and model.next_probe_at <= now]
        probes_before = {name: len(self.world.providers[name].probes) for name in self.names}
        changes_before = len(self.world.changes)

        self.world.prober.probe_due()

        probed = [n for n in self.names if len(self.world.providers[n].probes) > probes_before[n]]
        assert probed == due
        for name in due:
            model = self.model[name]
            if scripted[name] == "accepted":
                self.model[name] = Model(generation=model.generation + 1)
            else:
                hint = retry_after if scripted[name] == "not_accepted" else None
                model.failed_probes += 1
                model.next_probe_at = now + self.delay(hint, model.failed_probes)
        assert all(change == (State.OPEN, State.CLOSED) for change in self.new_changes(changes_before))
        for provider in self.world.providers.values():
            provider.forget_script()
        self.remember()

    @precondition(lambda self: bool(self.stale(State.CLOSED)))
    @rule(data=st.data(), kind=st.sampled_from(["not_accepted", "ambiguous", "accepted"]))
    def late_send_result(self, data, kind):
        old = data.draw(st.sampled_from(self.stale(State.CLOSED)))
        current = self.world.circuits[old.provider]

        self.world.circuits.record_outcome(old, self.make_outcome(kind))

        assert self.world.circuits[old.provider] is current

    @precondition(lambda self: bool(self.stale(State.OPEN)))
    @rule(data=st.data(), kind=st.sampled_from(["accepted", "not_accepted"]))
    def late_probe_result(self, data, kind):
        old = data.draw(st.sampled_from(self.stale(State.OPEN)))
        current = self.world.circuits[old.provider]

        self.world.circuits.record_probe(old, self.make_outcome(kind))

        assert self.world.circuits[old.provider] is current

    # Invariants

    @invariant()
    def no_real_send_along_an_open_circuit(self):
        assert self.sends_along_open == []

    @invariant()
    def circuits_match_the_model(self):
        for name in self.names:
            circuit, model = self.world.circuits[name], self.model[name]
            assert (circuit.state, circuit.generation, circuit.failures) == (
                model.state, model.generation, model.failures), name
            if model.state is State.OPEN:
                assert circuit.next_probe_at == model.next_probe_at

    @invariant()
    def generation_is_monotonic(self):
        for name in self.names:
            generation = self.world.circuits[name].generation
            assert generation >= self.generations[name]
            self.generations[name] = generation

    @invariant()
    def retry_after_is_time_until_the_next_probe(self):
        open_at = [m.next_probe_at for m in self.model.values() if m.state is State.OPEN]
        expected = max(0.0, min(open_at) - self.world.clock()) if open_at else 0.0
        assert self.world.circuits.seconds_until_probe() == expected


def test_circuits_behave_like_the_model(world_factory, make_outcome, make_message):
    run_state_machine_as_test(
        lambda: CircuitMachine(world_factory, make_outcome, make_message),
        settings=settings(max_examples=50, stateful_step_count=30, deadline=None),
    )
