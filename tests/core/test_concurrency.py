"""Many threads against one worker's circuits and dispatcher, tiny switch interval: assert bounds only."""
from __future__ import annotations

import collections
import itertools
import sys
import threading
import time

import pytest

from sendmailproxy.circuits import State
from sendmailproxy.dispatch import Delivery
from sendmailproxy.errors import AllCircuitsOpenError, SendError
from testkit.polling import WAIT_SECONDS

THREADS = 32
FAST_POLL = 0.05
# Each fake send, and each request around it, sleeps this long for its I/O: without I/O, 32 threads
# spinning on the GIL starve every other thread, the prober and the test's own waits included.
NETWORK = 0.001
ENOUGH = 30  # sends to see in each phase before moving on
GENERATIONS = 10  # circuit changes to see while the writers race
WRITERS = 8  # enough to race; 32 spinning writers starve the closer of the GIL on a loaded machine


@pytest.fixture
def tiny_switch_interval():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class Hammer:
    """THREADS threads sending distinct messages through one dispatcher until stopped; keeps every result."""

    def __init__(self, dispatcher, make_message):
        self.dispatcher = dispatcher
        self.make_message = make_message
        self.results: list = []  # (message, Delivery or SendError)
        self.escaped: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), name=f"hammer-{n}")
                        for n in range(THREADS)]

    def run(self, n: int) -> None:
        sent = 0
        while not self.stop.is_set():
            sent += 1
            message = self.make_message(f"{n}-{sent}")
            try:
                self.results.append((message, self.dispatcher.send(message)))
            except SendError as error:
                self.results.append((message, error))
            except BaseException as error:  # noqa: BLE001 - the test asserts nothing escapes
                self.escaped.append(error)
                return
            time.sleep(NETWORK)  # reading the next request, writing this answer

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        deadline = time.monotonic() + 30
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self.threads), "hammer threads did not stop"


class Tally:
    """How many items of a growing list match, counting only the items added since the last call."""

    def __init__(self, items: list, matches):
        self.items, self.matches = items, matches
        self.scanned = self.count = 0

    def __call__(self) -> int:
        end = len(self.items)
        self.count += sum(1 for item in self.items[self.scanned:end] if self.matches(item))
        self.scanned = end
        return self.count


def accepted_tally(provider) -> Tally:
    return Tally(provider.sends, lambda sent: sent[1].kind.value == "accepted")


def set_health(provider, make_outcome, kind: str) -> None:
    provider.outcome = make_outcome(kind, message_id=f"{provider.name}-id")
    provider.probe_outcome = make_outcome("accepted" if kind == "accepted" else "not_accepted")


def accepted_sends(provider) -> list:
    return [message for message, outcome in provider.sends if outcome.kind.value == "accepted"]


def wait_for_more(tally: Tally, wait_until, what: str) -> None:
    target = tally() + ENOUGH
    wait_until(lambda: tally() >= target, what)


def watch_sends(world) -> dict:
    """Remember, for each (provider, message) sent, the circuit as it was when the send began."""
    seen = {}

    def on_send(provider, message):
        seen[provider.name, message] = world.circuits[provider.name]

    for provider in world.providers.values():
        provider.on_send = on_send
    return seen


def assert_failures_after_each_trip_are_bounded(world, seen, name: str):
    """Each thread reads the circuit once per send, so once a circuit trips, at most one send per thread
    (already in flight, or racing the trip) still reaches the failed provider, until the prober closes it."""
    failed_per_period = collections.Counter()
    along_open = collections.Counter()
    for message, outcome in world.providers[name].sends:
        circuit = seen[name, message]
        if outcome.is_provider_failure:
            failed_per_period[circuit.generation // 2] += 1  # generations 2k (closed) and 2k+1 (open)
        if not circuit.closed:
            along_open[circuit.generation] += 1
    assert failed_per_period and max(failed_per_period.values()) <= THREADS, failed_per_period
    assert max(along_open.values(), default=0) <= THREADS, along_open


def assert_each_accepted_message_went_to_one_provider_once(world, results):
    delivered = {message: result.provider for message, result in results if isinstance(result, Delivery)}
    accepted_by = collections.defaultdict(list)
    for provider in world.providers.values():
        for message in accepted_sends(provider):
            accepted_by[message].append(provider.name)
        sends = collections.Counter(provider.sent)
        assert max(sends.values(), default=1) == 1, f"a message went to {provider.name} twice"
    assert {message: [name] for message, name in delivered.items()} == dict(accepted_by)


def test_trip_failover_and_recovery_under_load(world_factory, make_outcome, make_message, wait_until,
                                               tiny_switch_interval):
    world = world_factory("p1", "p2", clock=time.monotonic, poll_interval=FAST_POLL)
    p1, p2 = world.providers["p1"], world.providers["p2"]
    for provider in (p1, p2):
        set_health(provider, make_outcome, "accepted")
        provider.latency = NETWORK
    seen = watch_sends(world)
    on_p1, on_p2 = accepted_tally(p1), accepted_tally(p2)
    world.prober.ensure_running()

    with Hammer(world.dispatcher, make_message) as hammer:
        for cycle in range(2):
            wait_for_more(on_p1, wait_until, f"cycle {cycle}: traffic on p1")
            set_health(p1, make_outcome, "not_accepted")
            wait_until(lambda: not world.circuits["p1"].closed, f"cycle {cycle}: p1 to trip")
            wait_for_more(on_p2, wait_until, f"cycle {cycle}: failover to p2")
            set_health(p1, make_outcome, "accepted")
            wait_until(lambda: world.circuits["p1"].closed, f"cycle {cycle}: the prober to close p1")
        wait_for_more(on_p1, wait_until, "traffic back on p1")

    assert hammer.escaped == []
    # p2 never failed, so no client saw an error
    assert all(isinstance(result, Delivery) for _, result in hammer.results)
    assert_each_accepted_message_went_to_one_provider_once(world, hammer.results)
    assert_failures_after_each_trip_are_bounded(world, seen, "p1")
    assert all(outcome.kind.value == "accepted" for _, outcome in world.providers["p2"].sends)
    assert world.circuits["p2"].closed and world.circuits["p2"].generation == 0
    changes = sorted(world.changes, key=lambda change: change[1].generation)
    transitions = [(old.state, new.state) for old, new, _ in changes]
    assert transitions == [(State.CLOSED, State.OPEN), (State.OPEN, State.CLOSED)] * 2


def test_single_provider_timing_out_under_load(world_factory, make_outcome, make_message, wait_until,
                                               tiny_switch_interval):
    world = world_factory("p1", clock=time.monotonic, poll_interval=FAST_POLL)
    p1 = world.providers["p1"]
    set_health(p1, make_outcome, "accepted")
    p1.latency = NETWORK
    seen = watch_sends(world)
    on_p1 = accepted_tally(p1)
    world.prober.ensure_running()

    with Hammer(world.dispatcher, make_message) as hammer:
        wait_for_more(on_p1, wait_until, "traffic on p1")
        set_health(p1, make_outcome, "timeout")
        wait_until(lambda: not world.circuits["p1"].closed, "p1 to trip")
        wait_for_more(Tally(hammer.results, lambda r: isinstance(r[1], AllCircuitsOpenError)), wait_until,
                      "clients to get 503s")
        set_health(p1, make_outcome, "accepted")
        wait_until(lambda: world.circuits["p1"].closed, "the prober to close p1")
        wait_for_more(on_p1, wait_until, "traffic back on p1")

    assert hammer.escaped == []
    kinds = {type(result).__name__ for _, result in hammer.results}
    assert kinds <= {"Delivery", "ProviderTimeoutError", "AllCircuitsOpenError"}
    for _, result in hammer.results:
        if isinstance(result, AllCircuitsOpenError):
            assert int(result.headers["Retry-After"]) >= 1
    assert_each_accepted_message_went_to_one_provider_once(world, hammer.results)
    assert_failures_after_each_trip_are_bounded(world, seen, "p1")


def test_concurrent_writers_never_reuse_or_skip_a_generation(world_factory, make_outcome,
                                                              tiny_switch_interval):
    """Request threads counting failures and a closer racing them: each change gets the next generation."""
    world = world_factory("p1", threshold=3)
    circuits = world.circuits
    # Three failures in a row open the circuit even without help from other threads; the success resets
    # the count under the write lock, racing the openings.
    outcomes = [make_outcome("not_accepted")] * 3 + [make_outcome("accepted")]
    deadline = time.monotonic() + WAIT_SECONDS  # a bound for a broken circuit that never changes
    escaped: list[BaseException] = []

    def racing() -> bool:
        return circuits["p1"].generation < GENERATIONS and time.monotonic() < deadline

    def request_thread(n: int) -> None:
        try:
            for outcome in itertools.islice(itertools.cycle(outcomes), n, None):
                if not racing():
                    return
                circuits.record_outcome(circuits["p1"], outcome)
        except BaseException as error:  # noqa: BLE001
            escaped.append(error)

    def closer() -> None:
        while racing():
            circuit = circuits["p1"]
            if not circuit.closed:
                circuits.record_probe(circuit, make_outcome("accepted"))

    threads = [threading.Thread(target=request_thread, args=(n,)) for n in range(WRITERS)]
    threads.append(threading.Thread(target=closer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS + 30)

    assert escaped == [] and not any(t.is_alive() for t in threads)
    generations = sorted(new.generation for _, new, _ in world.changes)
    assert len(generations) >= GENERATIONS
    assert generations == list(range(1, len(generations) + 1))
    assert circuits["p1"].generation == len(generations)
    for old, new, _ in world.changes:
        # odd generations are openings by request threads, even ones closings by the closer
        assert (old.state, new.state) == ((State.CLOSED, State.OPEN) if new.generation % 2 else
                                          (State.OPEN, State.CLOSED))
        assert old.generation == new.generation - 1
