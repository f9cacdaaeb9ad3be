"""The events contract on SQLite and Redis: each event stored once, nonces single-use, the feed and its cursor."""
from __future__ import annotations

import threading
import time

import pytest

from sendmailproxy.events.store import AddResult, NonceReused
from tests.store.conftest import event

SHORT = 0.3  # a TTL a test waits out


def wait_out(seconds: float) -> None:
    time.sleep(seconds + 0.1)


def read_all(events, after=None, **filters) -> tuple[list[str], str]:
    page, cursor = events.feed(after, 1000, **filters)
    return [e.id for e in page], cursor


def test_events_round_trip_exactly(events):
    stored = event(1)
    assert events.add([stored]) == AddResult([stored])
    assert events.feed(None, 10)[0] == [stored]


def test_a_providers_retry_adds_nothing(events):
    assert events.add([event(1), event(2)]).new == [event(1), event(2)]
    assert events.add([event(2), event(1), event(3)]).new == [event(3)]
    assert events.add([event(4), event(4)]).new == [event(4)]
    assert read_all(events)[0] == [event(n).id for n in (1, 2, 3, 4)]


def test_a_nonce_with_the_same_body_is_a_duplicate_and_with_another_body_refused(events):
    assert events.add([event(1)], nonce=("token", "sha-a")).new == [event(1)]
    assert events.add([event(1)], nonce=("token", "sha-a")) == AddResult([])
    assert events.add([event(2)], nonce=("token", "sha-b")) == NonceReused()
    assert events.add([event(2)], nonce=("another token", "sha-b")).new == [event(2)]
    assert read_all(events)[0] == [event(1).id, event(2).id]


def test_a_refused_nonce_stores_nothing(events):
    events.add([], nonce=("token", "sha-a"))
    assert events.add([event(1)], nonce=("token", "sha-b")) == NonceReused()
    assert read_all(events)[0] == []
    assert events.backlog().waiting == 0


def test_the_cursor_returns_only_newer_events_and_itself_when_there_are_none(events):
    events.add([event(1), event(2)])
    first, cursor = read_all(events)
    assert first == [event(1).id, event(2).id]
    assert events.feed(cursor, 10) == ([], cursor)
    events.add([event(3)])
    assert read_all(events, cursor)[0] == [event(3).id]


def test_an_empty_feed_answers_a_cursor_that_later_shows_the_first_event(events):
    page, cursor = events.feed(None, 10)
    assert page == []
    events.add([event(1)])
    assert read_all(events, cursor)[0] == [event(1).id]


def test_the_limit_pages_in_order(events):
    events.add([event(n) for n in range(7)])
    seen, cursor = [], None
    while True:
        page, cursor = events.feed(cursor, 3)
        if not page:
            break
        assert len(page) <= 3
        seen += [e.id for e in page]
    assert seen == [event(n).id for n in range(7)]


def test_filters_by_message_id_and_recipient(events):
    events.add([event(1, "<a@x>", "one@example.com"), event(2, "<b@x>", "one@example.com"),
                event(3, "<a@x>", "two@example.com"), event(4, None, "one@example.com")])
    assert read_all(events, message_id="<a@x>")[0] == [event(1).id, event(3).id]
    assert read_all(events, recipient="ONE@example.com")[0] == [event(1).id, event(2).id, event(4).id]
    assert read_all(events, message_id="<a@x>", recipient="two@example.com")[0] == [event(3).id]
    assert read_all(events, message_id="<none@x>")[0] == []


def test_the_recipient_filter_ignores_case_on_both_sides(events):
    events.add([event(1, recipient="Mixed.Case@Example.com")])
    assert read_all(events, recipient="mixed.case@EXAMPLE.com")[0] == [event(1).id]


def test_a_filtered_cursor_returns_only_newer_events(events):
    events.add([event(1, "<a@x>"), event(2, "<b@x>")])
    _, cursor = read_all(events, message_id="<a@x>")
    events.add([event(3, "<a@x>"), event(4, "<b@x>")])
    assert read_all(events, cursor, message_id="<a@x>")[0] == [event(3).id]
    assert read_all(events, cursor)[0] == [event(2).id, event(3).id, event(4).id]


@pytest.mark.parametrize("after", ["x", "", "-1", "1.5", "12 ", "9" * 40, "1-2-3"])
def test_a_malformed_cursor_is_a_value_error(events, after):
    with pytest.raises(ValueError):
        events.feed(after, 10)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_a_limit_off_1_to_1000_is_a_value_error(events, limit):
    with pytest.raises(ValueError):
        events.feed(None, limit)


def test_events_leave_the_feed_after_their_ttl(make_events):
    events = make_events(ttl=SHORT, max_age=SHORT)
    events.add([event(1)])
    _, cursor = read_all(events)
    events.add([event(2)])
    wait_out(SHORT)
    events.add([event(3)])
    assert read_all(events)[0] == [event(3).id]
    assert read_all(events, cursor)[0] == [event(3).id]


def test_event_ids_are_remembered_max_age_even_past_the_ttl(make_events):
    events = make_events(ttl=SHORT, max_age=60)
    events.add([event(1)])
    wait_out(SHORT)
    assert events.add([event(1)]) == AddResult([])


def test_a_nonce_is_forgotten_after_max_age(make_events):
    # Event ids are forgotten by expiry (Redis) or by the next purge (SQLite: test_sqlite_purge).
    events = make_events(ttl=SHORT, max_age=SHORT)
    events.add([event(1)], nonce=("token", "sha-a"))
    wait_out(SHORT)
    assert events.add([event(2)], nonce=("token", "sha-b")).new == [event(2)]


def test_concurrent_adds_store_each_event_once(make_events):
    # 16 workers, each with its own backend (its own connection), all posting the same batch at once.
    stores = [make_events() for _ in range(16)]
    batch = [event(n) for n in range(20)]
    start = threading.Barrier(len(stores))
    results = [None] * len(stores)

    def add(index: int) -> None:
        start.wait()
        results[index] = stores[index].add(batch)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(e.id for result in results for e in result.new) == sorted(e.id for e in batch)
    assert sorted(read_all(stores[0])[0]) == sorted(e.id for e in batch)
    assert stores[0].backlog().waiting == len(batch)


def test_reachable(events):
    assert events.reachable()
