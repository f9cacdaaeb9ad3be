"""The sender against a real receiver and a SQLite store: delivered, retried on the schedule, given up, bounded."""
from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import REGISTRY

from sendmailproxy.events import open_events
from sendmailproxy.push.deadline import Deadlines
from sendmailproxy.push.sender import Sender
from sendmailproxy.push.transport import PushClient
from sendmailproxy.events.sqlitestore import SqliteEventStore
from sendmailproxy.store.sqlite import SqliteBackend
from testkit.polling import wait_until
from testkit.pushreceiver import Reply
from tests.push.conftest import event, settings


@pytest.fixture
def make_sender(receiver, secret):
    """Factory: a sender pushing `events` to the receiver; stopped after the test."""
    senders = []

    def make(events, schedule=(0, 0.05, 0.05), timeout: float = 1.0, threads: int = 4) -> Sender:
        deadlines = Deadlines()
        push = settings(receiver.url, secret, schedule=schedule, timeout=timeout)
        sender = Sender(events, PushClient(push, threads, deadlines), deadlines, push.schedule, timeout=timeout,
                        threads=threads)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.stop()


def counted(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_event_is_delivered_once_signed(events, receiver, make_sender):
    delivered = counted("smsp_push_delivered_total")
    events.add([event(n) for n in range(30)])
    make_sender(events).ensure_running()
    wait_until(lambda: events.backlog().waiting == 0, "the backlog to drain")
    assert receiver.ids() == {event(n).id: 1 for n in range(30)}
    assert all(push.verified for push in receiver.pushes)
    assert counted("smsp_push_delivered_total") - delivered == 30


def test_500_twice_then_200_is_delivered_on_the_third_attempt_with_the_same_id(events, receiver, make_sender):
    receiver.script = [Reply(500), Reply(500)]
    events.add([event(1)])
    make_sender(events).ensure_running()
    wait_until(lambda: events.backlog().waiting == 0, "the event to be delivered")
    assert [push.id for push in receiver.pushes] == [event(1).id] * 3
    assert all(push.verified for push in receiver.pushes)


def test_after_the_last_attempt_the_event_is_given_up_logged_and_still_in_the_feed(events, receiver, make_sender,
                                                                                   caplog):
    given_up, failed = counted("smsp_push_given_up_total"), counted("smsp_push_attempts_total", result="failed_status")
    receiver.default = Reply(500)
    events.add([event(1)])
    make_sender(events, schedule=(0, 0.05, 0.05)).ensure_running()
    wait_until(lambda: events.backlog().waiting == 0, "the event to be given up")
    assert len(receiver.pushes) == 3
    assert counted("smsp_push_given_up_total") - given_up == 1
    assert counted("smsp_push_attempts_total", result="failed_status") - failed == 3
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "push given up: every attempt of the retry schedule failed"
    assert record.event_id == event(1).id and record.attempt == 3
    assert [e.id for e in events.feed(None, 10)[0]] == [event(1).id]


def test_410_stops_the_attempts_at_once(events, receiver, make_sender, caplog):
    gone = counted("smsp_push_attempts_total", result="gone")
    receiver.default = Reply(410)
    events.add([event(1), event(2)])
    make_sender(events).ensure_running()
    wait_until(lambda: events.backlog().waiting == 0, "both events to be given up")
    time.sleep(0.2)  # a second attempt, were there one, is due 0.05 s after the first
    assert sorted(receiver.ids().values()) == [1, 1]
    assert counted("smsp_push_attempts_total", result="gone") - gone == 2
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "push given up: the receiver answered 410 Gone"] * 2


def test_a_retry_waits_the_schedules_delay_on_the_stores_clock(tmp_path, receiver, make_sender):
    now = [1000.0]
    events = SqliteEventStore(SqliteBackend(str(tmp_path / "clocked.sqlite3")), push=True, clock=lambda: now[0])
    sender = make_sender(events, schedule=(0, 300, 1800))
    receiver.script = [Reply(503, headers={"Retry-After": "600"}), Reply(500)]
    events.add([event(1)])

    def attempt_at(moment: float) -> int:
        now[0] = moment
        claimed, _ = sender.dispatch_due()
        if claimed:
            wait_until(lambda: not sender._in_flight, "the attempt to be recorded")
        return claimed

    assert attempt_at(1000) == 1  # 503 with Retry-After 600, above the schedule's 300
    assert attempt_at(1599) == 0
    assert attempt_at(1600) == 1  # 500: the schedule's third delay, 1800
    assert attempt_at(3399) == 0
    assert attempt_at(3400) == 1  # 200
    assert len(receiver.pushes) == 3 and events.backlog().waiting == 0


def test_a_dead_receiver_holds_no_more_than_the_senders_threads(events, receiver, make_sender):
    receiver.default = Reply(200, delay=30)  # hangs until the receiver stops
    events.add([event(n) for n in range(20)])
    make_sender(events, timeout=30, threads=3).ensure_running()
    wait_until(lambda: len(receiver.pushes) >= 3, "three attempts in flight")
    time.sleep(0.5)  # the loop polls every 0.05-1 s: it would have started more by now
    assert len(receiver.pushes) == 3


def test_a_stopped_thread_is_restarted_by_ensure_running(events, receiver, make_sender, caplog):
    sender = make_sender(events)
    sender.ensure_running()
    first = sender._thread
    sender.stop()
    first.join(5)
    assert not sender.is_alive()
    sender.ensure_running()
    assert sender.is_alive() and sender._thread is not first
    assert "push thread was not running; restarting it" in [r.getMessage() for r in caplog.records]
    events.add([event(1)])
    wait_until(lambda: receiver.ids() == {event(1).id: 1}, "the restarted sender to deliver")


def test_a_second_sender_takes_over_a_dead_ones_deliveries_after_the_lease(tmp_path, receiver, make_sender):
    path = str(tmp_path / "shared.sqlite3")
    dead = open_events(SqliteBackend(path), push=True)
    dead.add([event(1), event(2)])
    assert len(dead.claim(10, 0.3)) == 2  # claimed, then the process was killed before any POST
    make_sender(open_events(SqliteBackend(path), push=True)).ensure_running()
    wait_until(lambda: receiver.ids() == {event(1).id: 1, event(2).id: 1}, "the survivor to deliver both")
