"""The push queue on SQLite and Redis: every new event queued with it, claims leased, retries, give-ups, backlog."""
from __future__ import annotations

import threading
import time

from tests.store.conftest import event

LONG = 60.0  # a lease no test outlives
SHORT = 0.3  # one a test waits out


def wait_out(seconds: float) -> None:
    time.sleep(seconds + 0.1)


def claimed(deliveries) -> list[tuple[str, int]]:
    return sorted((d.event.id, d.attempt) for d in deliveries)


def test_every_new_event_is_queued_once_with_its_event(events):
    events.add([event(1), event(2)])
    events.add([event(2)])  # a provider's retry queues nothing more
    deliveries = events.claim(10, LONG)
    assert claimed(deliveries) == [(event(1).id, 1), (event(2).id, 1)]
    assert {d.event for d in deliveries} == {event(1), event(2)}


def test_without_push_nothing_is_queued(make_events):
    events = make_events(push=False)
    events.add([event(1)])
    assert events.claim(10, LONG) == []
    assert events.backlog() == (0, 0.0)


def test_a_leased_delivery_is_not_claimed_again_until_its_lease_runs_out(make_events):
    first, second = make_events(), make_events()
    first.add([event(1)])
    assert claimed(first.claim(10, SHORT)) == [(event(1).id, 1)]
    assert second.claim(10, SHORT) == []
    wait_out(SHORT)  # the first sender died
    assert claimed(second.claim(10, LONG)) == [(event(1).id, 2)]
    assert first.claim(10, LONG) == []


def test_the_claim_limit(events):
    events.add([event(n) for n in range(5)])
    assert len(events.claim(2, LONG)) == 2
    assert len(events.claim(10, LONG)) == 3
    assert events.claim(10, LONG) == []


def test_concurrent_claimers_never_share_a_delivery(make_events):
    stores = [make_events() for _ in range(8)]
    stores[0].add([event(n) for n in range(40)])
    start = threading.Barrier(len(stores))
    got = [[] for _ in stores]

    def claim(index: int) -> None:
        start.wait()
        for _ in range(40):  # bounded: a broken lease would hand the same deliveries out forever
            got[index] += [d.event.id for d in stores[index].claim(3, LONG)]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    everything = [event_id for ids in got for event_id in ids]
    assert sorted(everything) == sorted(event(n).id for n in range(40))


def test_a_retry_is_due_after_its_delay_with_the_next_attempt(events):
    events.add([event(1)])
    events.claim(10, LONG)
    events.retry(event(1).id, SHORT)
    assert events.claim(10, LONG) == []
    wait_out(SHORT)
    assert claimed(events.claim(10, LONG)) == [(event(1).id, 2)]


def test_success_and_giving_up_take_deliveries_off_the_queue(events):
    events.add([event(1), event(2), event(3)])
    events.claim(10, SHORT)
    events.succeed(event(1).id)
    events.give_up(event(2).id)
    events.retry(event(1).id, 0)  # a late retry of a delivered event does not queue it again
    assert events.backlog().waiting == 1
    wait_out(SHORT)
    assert claimed(events.claim(10, LONG)) == [(event(3).id, 2)]
    assert [e.id for e in events.feed(None, 10)[0]] == [event(n).id for n in (1, 2, 3)]  # still in the feed


def test_the_backlog_counts_waiting_deliveries_and_ages_the_oldest(events):
    assert events.backlog() == (0, 0.0)
    events.add([event(1)])
    time.sleep(SHORT)
    events.add([event(2)])
    events.claim(1, LONG)  # leased deliveries still wait
    waiting, oldest_age = events.backlog()
    assert waiting == 2
    assert SHORT <= oldest_age < LONG
    events.succeed(event(1).id)
    events.succeed(event(2).id)
    assert events.backlog() == (0, 0.0)
