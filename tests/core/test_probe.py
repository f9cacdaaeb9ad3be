"""The prober: one round driven synchronously, then the real thread (bounded waits, no timing assertions)."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from sendmailproxy.circuits import State
from sendmailproxy.probe import Prober
from sendmailproxy.providers.base import Outcome, OutcomeKind

FAST_POLL = 0.05  # the real thread wakes every poll/5 seconds


def test_round_probes_only_open_circuits_that_are_due(world_factory, make_outcome):
    world = world_factory("p1", "p2", "p3")
    world.open("p1")
    world.clock.advance(5.0)
    world.open("p2")
    world.clock.advance(5.0)
    world.providers["p1"].will_probe(make_outcome("not_accepted"))

    world.prober.probe_due()

    assert [len(p.probes) for p in world.providers.values()] == [1, 0, 0]
    assert all(p.sent == [] for p in world.providers.values())  # probes never go through send()


def test_accepted_probe_closes_and_failed_probe_waits_for_the_next_interval(world, make_outcome):
    world.open("p1")
    world.providers["p1"].will_probe(make_outcome("not_accepted"), make_outcome("accepted"))
    world.clock.advance(world.poll_interval)

    world.prober.probe_due()
    assert world.circuits["p1"].state is State.OPEN
    world.prober.probe_due()  # not due again yet
    assert len(world.providers["p1"].probes) == 1

    world.clock.advance(world.poll_interval)
    world.prober.probe_due()
    assert world.circuits["p1"].state is State.CLOSED
    world.clock.advance(world.poll_interval)
    world.prober.probe_due()  # closed circuits are not probed
    assert len(world.providers["p1"].probes) == 2


def test_each_probe_is_logged(world, make_outcome, log_records):
    world.open("p1")
    world.providers["p1"].will_probe(make_outcome("not_accepted", "still refused"))
    world.clock.advance(world.poll_interval)

    world.prober.probe_due()

    [record] = log_records("probe")
    assert (record.provider, record.outcome, record.reason, record.generation) == (
        "p1", "not_accepted", "still refused", 1)


@pytest.mark.parametrize("kind, status, level", [
    (OutcomeKind.NOT_ACCEPTED, 401, logging.ERROR),  # no probe will close it until the key is fixed
    (OutcomeKind.NOT_ACCEPTED, 403, logging.ERROR),
    (OutcomeKind.REJECTED, 400, logging.ERROR),  # a bad SMSP_POLL_MESSAGE_ADDRESS: the same for ever
    (OutcomeKind.NOT_ACCEPTED, 429, logging.WARNING),
    (OutcomeKind.AMBIGUOUS, 503, logging.WARNING),
    (OutcomeKind.ACCEPTED, 200, logging.INFO),
], ids=["401", "403", "400", "429", "503", "accepted"])
def test_a_probe_is_logged_at_error_when_only_an_operator_can_close_the_circuit(world, log_records, kind, status,
                                                                               level):
    world.open("p1")
    world.providers["p1"].will_probe(Outcome(kind, f"HTTP {status}", status=status))
    world.clock.advance(world.poll_interval)

    world.prober.probe_due()

    [record] = log_records("probe")
    assert (record.levelno, record.provider, record.outcome) == (level, "p1", kind.value)


def test_probe_that_raises_is_logged_and_does_not_starve_the_others(world, make_outcome, log_records):
    world.open("p1")
    world.open("p2")
    world.providers["p1"].will_probe(RuntimeError("bug in probe"))
    world.providers["p2"].will_probe(make_outcome("accepted"))
    world.clock.advance(world.poll_interval)

    world.prober.probe_due()

    assert world.circuits["p2"].closed
    errors = [r for r in log_records("probe") if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info[0] is RuntimeError
    world.prober.probe_due()  # the broken one waits for its next interval like any failed probe
    assert world.circuits["p1"].probes == 1
    assert world.circuits["p1"].next_probe_at == pytest.approx(world.clock() + world.poll_interval)


# The real thread.


def test_thread_closes_open_circuit_after_successful_probe(world_factory, make_outcome, wait_until):
    world = world_factory("p1", "p2", clock=time.monotonic, poll_interval=FAST_POLL)
    world.open("p1")
    world.providers["p1"].will_probe(make_outcome("not_accepted"), make_outcome("ambiguous"),
                                     make_outcome("accepted"))

    world.prober.ensure_running()

    wait_until(lambda: world.circuits["p1"].closed, "the prober to close p1")
    assert [o.kind.value for o in world.providers["p1"].probes] == ["not_accepted", "ambiguous", "accepted"]
    assert world.providers["p2"].probes == []
    assert [(old.state, new.state) for old, new, _ in world.changes] == [
        (State.CLOSED, State.OPEN), (State.OPEN, State.CLOSED)]


def test_thread_survives_an_exception_in_a_probe(world_factory, make_outcome, wait_until, log_records):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    world.open("p1")
    world.providers["p1"].will_probe(RuntimeError("bug in probe"), make_outcome("accepted"))

    world.prober.ensure_running()

    wait_until(lambda: world.circuits["p1"].closed, "the probe after the failing one to close p1")
    assert any(r.levelno == logging.ERROR and r.exc_info for r in log_records("probe"))


def test_thread_survives_an_exception_in_a_whole_round(world_factory, make_outcome, wait_until, log_records,
                                                      monkeypatch):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    world.open("p1")
    world.providers["p1"].will_probe(make_outcome("accepted"))
    real_round = world.prober.probe_due
    rounds = []

    def round_failing_once():
        rounds.append(None)
        if len(rounds) == 1:
            raise RuntimeError("broken round")
        real_round()

    monkeypatch.setattr(world.prober, "probe_due", round_failing_once)

    world.prober.ensure_running()

    wait_until(lambda: world.circuits["p1"].closed, "a later round to close p1")
    [error] = [r for r in log_records("probe") if r.levelno == logging.ERROR]
    assert error.exc_info[0] is RuntimeError and "continuing" in error.getMessage()


def test_heartbeat_advances(world_factory, wait_until):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    assert world.prober.heartbeat is None and not world.prober.is_alive()

    world.prober.ensure_running()
    first = world.prober.heartbeat

    wait_until(lambda: world.prober.heartbeat > first, "the heartbeat to advance")
    assert world.prober.is_alive()


def test_ensure_running_is_a_no_op_while_alive(world_factory, prober_threads):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    world.prober.ensure_running()
    [thread] = prober_threads()

    for _ in range(5):
        world.prober.ensure_running()

    assert prober_threads() == [thread]


def test_ensure_running_restarts_a_stopped_loop(world_factory, wait_until, prober_threads, log_records):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    world.prober.ensure_running()
    [dead] = prober_threads()
    world.prober.stop()  # the loop ends, as if the thread had died
    wait_until(lambda: not dead.is_alive(), "the stopped loop to exit")
    assert not world.prober.is_alive()

    world.prober.ensure_running()

    [restarted] = prober_threads()
    assert restarted is not dead and world.prober.is_alive()
    assert [r.levelno for r in log_records("probe") if "restarting" in r.getMessage()] == [logging.ERROR]
    first = world.prober.heartbeat
    wait_until(lambda: world.prober.heartbeat > first, "the restarted loop to beat")


def test_concurrent_ensure_running_starts_one_loop(world_factory, prober_threads):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    callers = 16
    barrier = threading.Barrier(callers)

    def call():
        barrier.wait()
        world.prober.ensure_running()

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert not any(thread.is_alive() for thread in threads)
    assert len(prober_threads()) == 1


def test_stale_heartbeat_is_not_alive_and_a_hung_loop_is_replaced_by_exactly_one(
        world_factory, wait_until, prober_threads, monkeypatch):
    world = world_factory("p1", poll_interval=FAST_POLL)  # FakeClock: heartbeats age only when told
    real_round = world.prober.probe_due
    rounds: list[threading.Thread] = []
    hang, hung, release = threading.Event(), threading.Event(), threading.Event()

    def instrumented_round():
        rounds.append(threading.current_thread())
        if hang.is_set():
            hang.clear()
            hung.set()
            release.wait(timeout=30)  # a probe stuck far beyond its timeout
        real_round()

    monkeypatch.setattr(world.prober, "probe_due", instrumented_round)
    try:
        world.prober.ensure_running()
        [old] = prober_threads()
        hang.set()
        wait_until(hung.is_set, "the loop to hang")
        assert world.prober.is_alive()  # the thread is alive and its heartbeat still fresh

        world.clock.advance(world.prober.stale_after + 1)
        assert old.is_alive() and not world.prober.is_alive()

        world.prober.ensure_running()
        new = next(t for t in prober_threads() if t is not old)
        wait_until(lambda: rounds.count(new) >= 2, "the new loop to run rounds")
        assert world.prober.is_alive()
    finally:
        release.set()
    rounds_before_release = len(rounds)
    wait_until(lambda: not old.is_alive(), "the replaced loop to exit once unstuck")

    assert prober_threads() == [new]
    assert old not in rounds[rounds_before_release:]  # the old loop never started another round


@pytest.mark.parametrize("kind, level, says_operator", [
    ("operator", logging.ERROR, True), ("not_accepted", logging.WARNING, False)])
def test_a_probe_that_needs_an_operator_logs_an_error_saying_so_and_when_it_probes_next(
        world, make_outcome, log_records, kind, level, says_operator):
    world.open("p1")
    world.providers["p1"].will_probe(make_outcome(kind))
    world.clock.advance(world.poll_interval)

    world.prober.probe_due()

    [record] = log_records("probe")
    assert record.levelno == level
    assert ("an operator must act" in record.getMessage()) is says_operator
    expected = world.poll_max_interval if says_operator else world.poll_interval
    assert record.next_probe_in_s == expected


def test_a_round_of_slow_probes_is_not_taken_for_a_dead_prober(world_factory):
    """Staleness allows two rounds of each provider's longest call (an SMTP probe waits on many commands)."""
    world = world_factory("p1", "p2")
    fast = world.prober.stale_after
    for provider in world.providers.values():
        provider.max_send_seconds = 24.0  # as SMTP states it: 12 command waits of a 2 s timeout

    slow = Prober(world.circuits, list(world.providers.values()), poll_interval=world.poll_interval,
                  clock=world.clock).stale_after

    assert slow - fast == pytest.approx(2 * 2 * (24.0 - 1.0))
    assert slow > 2 * 2 * 24.0
