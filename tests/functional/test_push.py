"""Events pushed to the application through real gunicorn: signed and in our format, retried until delivered,
bounded by the timeout, stopped by 410, and shared by two instances on redis-server with a worker SIGKILLed.

One test takes the whole path (a send, the fake's signed webhook through POST /webhooks/mailgun, the push); the
others put events in the store directly, as the intake stores them, to choose how many arrive and when.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from sendmailproxy.events import open_events
from sendmailproxy.events.model import Event, rfc3339
from sendmailproxy.store import open_backend
from testkit.harness import Gunicorn, provider_env
from testkit.polling import wait_until
from testkit.ports import free_port
from testkit.pushreceiver import PushReceiver, Reply
from tests.functional.conftest import stop_and_check_logs

pytestmark = pytest.mark.functional

FAST_SCHEDULE = ",".join(["0"] + ["0.3"] * 30)  # 31 attempts, 0.3 s apart


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"sqlite://{tmp_path / 'store.sqlite3'}"


def push_env(receiver: PushReceiver, secret: str, store_url: str, **overrides) -> dict[str, str]:
    """The push settings for `receiver`, and the store of the events (SMSP_STORE)."""
    return {"SMSP_EVENTS_WEBHOOK_URL": receiver.url, "SMSP_EVENTS_WEBHOOK_SECRET": secret,
            "SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE": FAST_SCHEDULE, "SMSP_EVENTS_WEBHOOK_TIMEOUT": "1",
            "SMSP_STORE": store_url, "WEB_CONCURRENCY": "2", **overrides}


def stored_event(message_id: str, n: int = 0, type: str = "delivered") -> Event:
    """The event the intake stores for a message the fake accepted."""
    return Event(id=f"ev_{os.urandom(8).hex()}{n:016x}", type=type, provider="mailgun", message_id=message_id,
                 recipient="rcpt@example.com", occurred_at=rfc3339(time.time()), metadata={"n": str(n)})


def store_events(store_url: str, events: list[Event]) -> None:
    open_events(open_backend(store_url), push=True).add(events)


def metric(service: Gunicorn, line: str) -> float:
    text = requests.get(service.url + "/metrics", timeout=5).text
    return sum(float(row.rsplit(" ", 1)[1]) for row in text.splitlines() if row.startswith(line))


def test_an_event_of_a_sent_message_reaches_the_receiver_signed_in_our_format(start_service, receiver, secret,
                                                                               store_url):
    service = start_service(**push_env(receiver, secret, store_url))
    sent = service.send().json()
    event = stored_event(sent["id"], type="bounced")
    store_events(store_url, [event])
    wait_until(lambda: receiver.pushes, "the push")
    [push] = receiver.pushes
    assert push.verified  # standardwebhooks.Webhook(secret).verify(body, headers)
    assert push.id == event.id
    assert push.body == {"type": "email.bounced", "timestamp": event.occurred_at, "data": event.to_json()}
    assert push.body["data"]["message_id"] == sent["id"]
    health = service.health_of_every_worker()
    assert all(h["push"]["alive"] for h in health.values())
    wait_until(lambda: requests.get(service.url + "/healthcheck", timeout=5).json()["push"]["backlog"]
               == {"waiting": 0, "oldest_age_seconds": 0}, "the backlog to be empty")


def test_500_twice_then_200_is_delivered_on_the_third_attempt_with_the_same_id(start_service, receiver, secret,
                                                                               store_url):
    service = start_service(**push_env(receiver, secret, store_url))
    receiver.script = [Reply(500), Reply(500)]
    event = stored_event(service.send().json()["id"])
    store_events(store_url, [event])
    wait_until(lambda: metric(service, "smsp_push_delivered_total") == 1, "the delivery")
    assert [p.id for p in receiver.pushes] == [event.id] * 3
    assert all(p.verified for p in receiver.pushes)
    assert len({p.body["data"]["id"] for p in receiver.pushes}) == 1
    assert metric(service, 'smsp_push_attempts_total{result="failed_status"}') == 2


def test_a_receiver_down_for_a_while_gets_everything_when_it_comes_back(start_service, secret, store_url):
    receiver = PushReceiver([secret], port=free_port())  # not started: nothing listens on its port
    service = start_service(**push_env(receiver, secret, store_url))
    events = [stored_event(f"<m{n}@example.com>", n) for n in range(20)]
    store_events(store_url, events)
    wait_until(lambda: metric(service, 'smsp_push_attempts_total{result="connection_error"}') >= 40,
               "two failed rounds")
    receiver.start()
    try:
        wait_until(lambda: set(receiver.ids()) == {e.id for e in events}, "every event after the comeback", 30)
        assert all(p.verified for p in receiver.pushes)
    finally:
        receiver.stop()


def test_a_receiver_that_hangs_is_bounded_by_the_timeout_and_retried(start_service, receiver, secret, store_url):
    service = start_service(**push_env(receiver, secret, store_url))
    receiver.script = [Reply(200, delay=60)]  # hangs far past SMSP_EVENTS_WEBHOOK_TIMEOUT (1 s)
    event = stored_event("<hang@example.com>")
    store_events(store_url, [event])
    wait_until(lambda: metric(service, "smsp_push_delivered_total") == 1, "the retry's delivery")
    assert [p.id for p in receiver.pushes] == [event.id, event.id]
    assert metric(service, 'smsp_push_attempts_total{result="timeout"}') == 1


def test_a_hanging_receiver_holds_eight_threads_per_worker_and_never_the_sends(start_service, receiver, secret,
                                                                              store_url):
    service = start_service(**push_env(receiver, secret, store_url, SMSP_EVENTS_WEBHOOK_TIMEOUT="60"))
    receiver.default = Reply(200, delay=120)  # every push hangs until the receiver stops
    store_events(store_url, [stored_event(f"<m{n}@example.com>", n) for n in range(40)])
    wait_until(lambda: len(receiver.pushes) >= 16, "both workers' push threads to be busy")
    answers = [service.send(timeout=10, request_headers={"Connection": "close"}) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert len(receiver.pushes) == 16  # 2 workers x 8 threads, no more
    assert requests.get(service.url + "/healthcheck", timeout=5).json()["push"]["backlog"]["waiting"] == 40


def test_410_stops_the_attempts(start_service, receiver, secret, store_url):
    service = start_service(**push_env(receiver, secret, store_url))
    receiver.default = Reply(410)
    event = stored_event("<gone@example.com>")
    store_events(store_url, [event])
    wait_until(lambda: metric(service, "smsp_push_given_up_total") == 1, "the give-up")
    time.sleep(1)  # three times the schedule's delay: a retry would have come
    assert [p.id for p in receiver.pushes] == [event.id]
    assert metric(service, 'smsp_push_attempts_total{result="gone"}') == 1
    records = service.log_records()
    assert any(r["message"] == "push given up: the receiver answered 410 Gone" and r["level"] == "ERROR"
               and r["event_id"] == event.id for r in records)


def test_a_send_then_the_fakes_webhook_through_the_intake_reaches_the_receiver(start_service, clean_fake, receiver,
                                                                               secret, store_url):
    key = clean_fake.control.webhook_keys()["mailgun"]["signing_key"]
    service = start_service(**push_env(receiver, secret, store_url, SMSP_MG_WEBHOOK_SIGNING_KEY=key))
    sent = service.send(toaddress="ann@example.com").json()
    answers = clean_fake.control.post_webhook(service.url + "/webhooks/mailgun", sent["id"], "bounce")
    assert [a["status"] for a in answers] == [200]
    wait_until(lambda: receiver.pushes, "the push")
    [push] = receiver.pushes
    assert push.verified
    assert push.body["type"] == "email.bounced"
    assert push.body["data"]["message_id"] == sent["id"] and push.body["data"]["recipient"] == "ann@example.com"


def test_two_instances_on_redis_with_a_worker_killed_deliver_every_event_at_least_once(fake, redis_server, secret,
                                                                                      tmp_path, request, capsys):
    # 100 ms per push: every worker keeps its 8 threads busy, so the one killed dies with pushes in flight.
    receiver = PushReceiver([secret], default=Reply(200, delay=0.1)).start()
    env = provider_env(fake, **push_env(receiver, secret, redis_server.url, SMSP_EVENTS_WEBHOOK_TIMEOUT="2"))
    services = [Gunicorn(env, tmp_path / f"gunicorn-{n}.log").start() for n in range(2)]
    try:
        events = [stored_event(f"<m{n}@example.com>", n) for n in range(500)]
        for start in range(0, 500, 50):
            store_events(redis_server.url, events[start:start + 50])
        wait_until(lambda: len(receiver.pushes) >= 100, "a fifth of the pushes")
        victim = min(services[0].worker_pids())
        os.kill(victim, signal.SIGKILL)  # mid-run: its in-flight deliveries are leased to a dead sender
        wait_until(lambda: set(receiver.ids()) == {e.id for e in events}, "every event", 60)
        # The dead worker's pushes reached the receiver but were never recorded: they wait out their lease in the
        # store, then another sender pushes them again. Done when the store's queue is empty.
        wait_until(lambda: requests.get(services[1].url + "/healthcheck", timeout=5).json()["push"]["backlog"]
                   ["waiting"] == 0, "the dead worker's deliveries to be taken over and recorded", 60)
        counts = receiver.ids()
        duplicates = sum(count - 1 for count in counts.values())
        assert all(p.verified for p in receiver.pushes)
        with capsys.disabled():
            print(f"\npush: 500 events, 2 instances x 2 workers, one worker SIGKILLed mid-run: "
                  f"{len(receiver.pushes)} pushes, {duplicates} duplicates")
        assert duplicates <= 8  # at most the killed worker's attempts in flight (8 threads)
    finally:
        receiver.stop()
        stop_and_check_logs(services, show=getattr(request.node, "failed", False))
