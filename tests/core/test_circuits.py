"""Every circuit transition, driven by a fake clock: no threads, no sleeps."""
from __future__ import annotations

import logging

import pytest

from sendmailproxy.circuits import Circuits, State
from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.core.conftest import FakeClock

PROVIDER_FAILURES = ["not_accepted", "ambiguous", "timeout"]
ALL_KINDS = ["accepted", "rejected", *PROVIDER_FAILURES]


def test_default_threshold_is_one(make_outcome):
    circuits = Circuits(["p1"])

    circuits.record_outcome(circuits["p1"], make_outcome("not_accepted"))

    assert circuits["p1"].state is State.OPEN


def test_circuits_start_closed_at_generation_zero(world):
    assert [(c.provider, c.state, c.generation, c.failures) for c in world.circuits.snapshot()] == [
        ("p1", State.CLOSED, 0, 0), ("p2", State.CLOSED, 0, 0)]


@pytest.mark.parametrize("threshold, failures_before, kind, failures_after", [
    (1, 0, "accepted", 0),
    (3, 2, "accepted", 0),  # success resets the consecutive count
    (1, 0, "rejected", 0),
    (3, 2, "rejected", 2),  # the caller's fault: counter untouched
    (2, 0, "not_accepted", 1),
    (2, 0, "ambiguous", 1),
    (3, 1, "timeout", 2),
])
def test_closed_circuit_stays_closed(world_factory, make_outcome, threshold, failures_before, kind,
                                     failures_after):
    world = world_factory("p1", threshold=threshold)
    for _ in range(failures_before):
        world.circuits.record_outcome(world.circuits["p1"], make_outcome("not_accepted"))
    before = world.circuits["p1"]
    assert before.failures == failures_before

    world.circuits.record_outcome(before, make_outcome(kind))

    after = world.circuits["p1"]
    assert (after.state, after.generation, after.failures) == (
        State.CLOSED, before.generation, failures_after)
    assert world.changes == []


@pytest.mark.parametrize("kind", ["accepted", "rejected"])
def test_outcome_that_changes_nothing_writes_nothing(world, make_outcome, kind):
    before = world.circuits["p1"]

    world.circuits.record_outcome(before, make_outcome(kind))

    assert world.circuits["p1"] is before


@pytest.mark.parametrize("kind", PROVIDER_FAILURES)
@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_consecutive_provider_failures_at_threshold_open(world_factory, make_outcome, kind, threshold):
    world = world_factory("p1", threshold=threshold)
    for _ in range(threshold - 1):
        world.circuits.record_outcome(world.circuits["p1"], make_outcome(kind))
        assert world.circuits["p1"].closed

    world.circuits.record_outcome(world.circuits["p1"], make_outcome(kind, "provider down"))

    circuit = world.circuits["p1"]
    assert (circuit.state, circuit.generation, circuit.failures, circuit.probes) == (
        State.OPEN, 1, threshold, 0)
    assert (circuit.last_failure, circuit.last_reason) == (make_outcome(kind).kind.value, "provider down")
    assert circuit.since == world.clock()


def test_rejected_between_failures_neither_resets_nor_counts(world_factory, make_outcome):
    world = world_factory("p1", threshold=2)
    world.circuits.record_outcome(world.circuits["p1"], make_outcome("not_accepted"))
    world.circuits.record_outcome(world.circuits["p1"], make_outcome("rejected"))
    assert world.circuits["p1"].closed

    world.circuits.record_outcome(world.circuits["p1"], make_outcome("not_accepted"))

    assert world.circuits["p1"].state is State.OPEN


@pytest.mark.parametrize("jitter", [0.75, 1.0, 1.25])
def test_opened_circuit_schedules_probe_at_interval_times_jitter(world_factory, make_outcome, jitter):
    world = world_factory("p1", jitter=jitter, poll_interval=8.0)

    circuit = world.open("p1")

    assert circuit.next_probe_at == pytest.approx(world.clock() + 8.0 * jitter)


def test_default_jitter_spreads_probes_over_plus_or_minus_a_quarter_interval(make_outcome):
    """Without an injected jitter, first probe delays vary, and stay within 0.75-1.25 poll intervals."""
    clock = FakeClock()
    delays = []
    for _ in range(200):  # a fresh circuit each time: backoff must not stretch the delays under test
        circuits = Circuits(["p1"], poll_interval=8.0, clock=clock)
        circuits.record_outcome(circuits["p1"], make_outcome("not_accepted"))
        delays.append(circuits["p1"].next_probe_at - clock())

    assert all(6.0 <= delay <= 10.0 for delay in delays), (min(delays), max(delays))
    # 200 uniform draws that all miss the range's bottom (or top) tenth come once in a billion runs;
    # a constant or narrowed jitter misses them every time.
    assert min(delays) < 6.4 and max(delays) > 9.6, (min(delays), max(delays))


@pytest.mark.parametrize("retry_after, expected_delay", [
    (60.0, 60.0),  # longer than the interval: the provider's reset time wins
    (3.0, 10.0),  # shorter: the jittered interval wins
])
def test_retry_after_is_a_floor_for_the_first_probe(world, make_outcome, retry_after, expected_delay):
    circuit = world.open("p1", make_outcome("not_accepted", "429 too many requests", retry_after=retry_after))

    assert circuit.next_probe_at == pytest.approx(world.clock() + expected_delay)
    world.clock.advance(expected_delay - 0.001)
    assert world.circuits.due_probes() == []
    world.clock.advance(0.001)
    assert world.circuits.due_probes() == [circuit]


def test_probe_accepted_closes_with_next_generation(world, make_outcome):
    opened = world.open("p1")
    world.clock.advance(world.poll_interval)

    world.circuits.record_probe(opened, make_outcome("accepted"))

    circuit = world.circuits["p1"]
    assert (circuit.state, circuit.generation, circuit.failures, circuit.probes) == (State.CLOSED, 2, 0, 1)
    assert circuit.since == world.clock()


@pytest.mark.parametrize("kind", PROVIDER_FAILURES)
def test_probe_failed_keeps_open_and_schedules_next(world, make_outcome, kind):
    opened = world.open("p1")
    world.clock.advance(world.poll_interval)

    world.circuits.record_probe(opened, make_outcome(kind, "still down"))

    circuit = world.circuits["p1"]
    assert (circuit.state, circuit.generation, circuit.probes, circuit.last_reason) == (
        State.OPEN, opened.generation, 1, "still down")
    assert circuit.next_probe_at == pytest.approx(world.clock() + world.poll_interval)
    assert len(world.changes) == 1  # only the opening


def test_probe_failed_with_retry_after_delays_next_probe(world, make_outcome):
    opened = world.open("p1")
    world.clock.advance(world.poll_interval)

    world.circuits.record_probe(opened, make_outcome("not_accepted", "429", retry_after=120.0))

    assert world.circuits["p1"].next_probe_at == pytest.approx(world.clock() + 120.0)


def test_probes_count_up_while_open(world, make_outcome):
    world.open("p1")
    for expected in (1, 2, 3):
        world.clock.advance(world.poll_interval)
        world.circuits.record_probe(world.circuits["p1"], make_outcome("not_accepted"))
        assert world.circuits["p1"].probes == expected


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_record_outcome_never_closes(world, make_outcome, kind):
    opened = world.open("p1")

    world.circuits.record_outcome(opened, make_outcome(kind))

    assert world.circuits["p1"] is opened


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_record_probe_ignores_closed_circuit(world, make_outcome, kind):
    closed = world.circuits["p1"]

    world.circuits.record_probe(closed, make_outcome(kind))

    assert world.circuits["p1"] is closed


@pytest.mark.parametrize("kind", PROVIDER_FAILURES)
def test_late_outcome_from_older_generation_is_ignored(world, make_outcome, kind):
    old = world.circuits["p1"]  # a request thread read this, then was slow
    world.open("p1")
    world.close("p1")
    current = world.circuits["p1"]

    world.circuits.record_outcome(old, make_outcome(kind))

    assert world.circuits["p1"] is current


@pytest.mark.parametrize("kind", ["accepted", "not_accepted"])
def test_late_probe_result_from_older_generation_is_ignored(world, make_outcome, kind):
    old = world.open("p1")
    world.close("p1")
    current = world.open("p1")  # open again: generation 3

    world.circuits.record_probe(old, make_outcome(kind))

    assert world.circuits["p1"] is current


def test_change_landing_mid_update_is_not_overwritten(make_outcome):
    """A write must not replace a record newer than the one it read (here: no generation going backwards)."""
    time_now = [0.0]
    hooks = []

    def clock():
        if hooks:  # the moment record_outcome is mid-update: another thread opens p1, the prober closes it
            hooks.pop()()
        return time_now[0]

    circuits = Circuits(["p1"], clock=clock, jitter=lambda: 1.0)
    seen = circuits["p1"]

    def other_threads():
        circuits.record_outcome(circuits["p1"], make_outcome("not_accepted"))
        circuits.record_probe(circuits["p1"], make_outcome("accepted"))

    hooks.append(other_threads)
    circuits.record_outcome(seen, make_outcome("not_accepted"))

    assert not hooks
    circuit = circuits["p1"]
    assert (circuit.state, circuit.generation) == (State.CLOSED, 2)


def test_seconds_until_probe(world_factory, make_outcome):
    world = world_factory("p1", "p2", "p3", poll_interval=10.0)
    assert world.circuits.seconds_until_probe() == 0.0  # nothing open

    world.open("p1")
    world.clock.advance(4.0)
    assert world.circuits.seconds_until_probe() == pytest.approx(6.0)

    world.open("p2", make_outcome("not_accepted", retry_after=30.0))
    assert world.circuits.seconds_until_probe() == pytest.approx(6.0)  # the soonest of the open ones

    world.clock.advance(100.0)
    assert world.circuits.seconds_until_probe() == 0.0  # overdue never goes negative


def test_due_probes_lists_only_open_circuits_that_are_due(world_factory):
    world = world_factory("p1", "p2", "p3")
    world.open("p1")
    world.clock.advance(5.0)
    world.open("p2")
    world.clock.advance(5.0)

    assert [c.provider for c in world.circuits.due_probes()] == ["p1"]


@pytest.mark.parametrize("kind, level", [("not_accepted", logging.WARNING), ("ambiguous", logging.WARNING)])
def test_opening_logs_one_line_with_fields(world, make_outcome, log_records, kind, level):
    world.circuits.record_outcome(world.circuits["p1"], make_outcome(kind, "503 service unavailable"))

    [record] = log_records("circuits")
    assert record.levelno == level
    assert (record.provider, getattr(record, "from"), record.to, record.reason, record.generation) == (
        "p1", "closed", "open", "503 service unavailable", 1)


def test_closing_logs_one_line_with_fields(world, log_records):
    world.open("p1")
    world.close("p1")

    [_, record] = log_records("circuits")
    assert record.levelno == logging.INFO
    assert (record.provider, getattr(record, "from"), record.to, record.reason, record.generation) == (
        "p1", "open", "closed", "probe accepted", 2)


def test_no_log_line_without_a_change(world_factory, make_outcome, log_records):
    world = world_factory("p1", threshold=2)
    for kind in ("accepted", "rejected", "not_accepted", "accepted"):
        world.circuits.record_outcome(world.circuits["p1"], make_outcome(kind))
    opened = world.open("p1")
    world.circuits.record_probe(opened, make_outcome("not_accepted"))

    assert [record.to for record in log_records("circuits")] == ["open"]


def test_on_change_gets_old_new_and_reason(world, make_outcome):
    before = world.circuits["p1"]
    world.circuits.record_outcome(before, make_outcome("not_accepted", "DNS failure"))

    assert world.changes == [(before, world.circuits["p1"], "DNS failure")]


def failed_probe_delays(world, make_outcome, kind: str, count: int) -> list[float]:
    """Open p1, then fail `count` due probes with `kind`; the wait scheduled after each."""
    world.open("p1")
    delays = []
    for _ in range(count):
        world.clock.now = world.circuits["p1"].next_probe_at
        world.circuits.record_probe(world.circuits["p1"], make_outcome(kind))
        delays.append(world.circuits["p1"].next_probe_at - world.clock())
    return delays


@pytest.mark.parametrize("jitter, expected", [
    (1.0, [10, 10, 10, 20, 40, 60, 60, 60]),
    (1.25, [12.5, 12.5, 12.5, 25, 50, 60, 60, 60]),  # the cap is a true maximum, jitter or not
    (0.75, [7.5, 7.5, 7.5, 15, 30, 60, 60, 60]),
])
def test_probes_follow_the_poll_interval_then_back_off_exponentially_to_the_cap(world_factory, make_outcome, jitter,
                                                                               expected):
    world = world_factory("p1", jitter=jitter, poll_interval=10.0, poll_max_interval=60.0)

    assert failed_probe_delays(world, make_outcome, "not_accepted", 8) == pytest.approx(expected)


def test_backoff_starts_again_after_the_circuit_closed(world, make_outcome):
    failed_probe_delays(world, make_outcome, "ambiguous", 6)
    world.close("p1")

    assert failed_probe_delays(world, make_outcome, "ambiguous", 1) == [world.poll_interval]


@pytest.mark.parametrize("opening", ["operator", "not_accepted"])
def test_a_failure_that_needs_an_operator_is_probed_once_per_cap_interval(world, make_outcome, opening):
    opened = world.open("p1", make_outcome(opening))
    first_delay = opened.next_probe_at - world.clock()
    assert first_delay == (world.poll_max_interval if opening == "operator" else world.poll_interval)

    assert failed_probe_delays(world, make_outcome, "operator", 3)[1:] == [world.poll_max_interval] * 2


def test_a_401_needs_an_operator_whatever_the_provider(world, make_outcome):
    world.open("p1", Outcome(OutcomeKind.NOT_ACCEPTED, "revoked", status=401))

    assert world.circuits.seconds_until_probe() == world.poll_max_interval  # the 503's Retry-After says so too


def test_retry_after_stays_honest_while_backing_off(world, make_outcome):
    failed_probe_delays(world, make_outcome, "not_accepted", 5)  # the next probe is 40 s away
    world.clock.advance(15)

    assert world.circuits.seconds_until_probe() == pytest.approx(25)


def test_a_providers_retry_after_beyond_the_cap_is_honoured(world, make_outcome):
    world.open("p1")
    world.clock.now = world.circuits["p1"].next_probe_at

    world.circuits.record_probe(world.circuits["p1"], make_outcome("not_accepted", retry_after=300))

    assert world.circuits.seconds_until_probe() == 300
