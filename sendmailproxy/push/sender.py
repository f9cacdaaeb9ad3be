"""The push thread of one worker: it claims due deliveries, POSTs them on a few threads, and records each result."""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from sendmailproxy import metrics
from sendmailproxy.background import BackgroundThread
from sendmailproxy.events.store import Backlog, Delivery, EventStore
from sendmailproxy.push.deadline import Deadlines
from sendmailproxy.push.schedule import Delivered, GiveUp, Retry, Step, next_step
from sendmailproxy.push.settings import PushSettings
from sendmailproxy.push.transport import Answer, PushClient
from sendmailproxy.store import StoreUnavailableError

log = logging.getLogger(__name__)

# At most this many POSTs at once per worker, each on its own pooled connection: a slow or dead receiver holds
# these threads and connections and nothing else (requests to /email and the webhook routes have their own).
THREADS = 8
POLL_MIN_SECONDS = 0.05  # the wait after the queue ran dry; doubled while it stays dry...
POLL_MAX_SECONDS = 1.0  # ...up to this, so an idle worker asks the store once a second
TICK_SECONDS = 0.25  # how often attempts past their deadline are cut while any is in flight
BACKLOG_EVERY_SECONDS = 15.0  # how often the backlog gauges are refreshed (one store read)
# A delivery is claimed only for a free thread, so it starts at once and ends within the timeout plus a tick;
# the rest covers the store writes around it. A sender killed mid-attempt has its deliveries taken over then.
LEASE_MARGIN_SECONDS = 10.0
# A loop turn waits at most a poll, or a store call that does not answer (Redis 2 s, SQLite's busy timeout 5 s).
STALE_AFTER_SECONDS = 15.0


class Sender(BackgroundThread):
    """Pushes the store's due deliveries; restartable if its thread ever stops, like the prober."""

    name, what = "push-sender", "push"

    def __init__(self, events: EventStore, client: PushClient, deadlines: Deadlines, schedule: Sequence[float], *,
                 timeout: float, threads: int = THREADS, clock: Callable[[], float] = time.monotonic):
        self.events = events
        self.client = client
        self.deadlines = deadlines
        self.schedule = tuple(schedule)
        self.threads = threads
        self.lease = timeout + TICK_SECONDS + LEASE_MARGIN_SECONDS
        super().__init__(clock, stale_after=STALE_AFTER_SECONDS)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"push-{os.getpid()}")
        self._in_flight = 0
        self._slots = threading.Condition()  # notified when an attempt ends and frees its thread
        self._backlog_at = -BACKLOG_EVERY_SECONDS

    @classmethod
    def build(cls, settings: PushSettings, events: EventStore) -> "Sender":
        """The sender of the settings' URL, with its own connection pool of THREADS connections."""
        deadlines = Deadlines()
        return cls(events, PushClient(settings, THREADS, deadlines), deadlines, settings.schedule,
                   timeout=settings.timeout)

    def stop(self) -> None:
        super().stop()
        with self._slots:
            self._slots.notify_all()

    def backlog(self) -> Backlog | None:
        """What waits to be pushed, or None when the store does not answer (for /healthcheck)."""
        try:
            return self.events.backlog()
        except StoreUnavailableError:
            return None

    def dispatch_due(self) -> tuple[int, int]:
        """Claim due deliveries for the free threads and start them: (claimed, asked for)."""
        with self._slots:
            free = self.threads - self._in_flight
        if free == 0:
            return 0, 0
        deliveries = self.events.claim(free, self.lease)
        for delivery in deliveries:
            with self._slots:
                self._in_flight += 1
            self._pool.submit(self._deliver, delivery)
        return len(deliveries), free

    def _run(self) -> None:
        me = threading.current_thread()
        idle_wait = POLL_MIN_SECONDS
        while self._thread is me and not self._stop.is_set():
            self.heartbeat = self.clock()
            self.deadlines.cut_overdue()
            try:
                self._publish_backlog()
                claimed, asked = self.dispatch_due()
            except StoreUnavailableError as error:
                log.warning("push: the store does not answer; trying again", extra={"reason": str(error)})
                claimed, asked = 0, 1
            except Exception:  # noqa: BLE001 - the sender must never die silently
                log.exception("push round failed; continuing")
                claimed, asked = 0, 1
            if claimed == asked:  # every free thread got work (or none was free): more may be due
                wait, idle_wait = 0.0, POLL_MIN_SECONDS
            elif claimed:  # the queue ran dry just now
                wait, idle_wait = POLL_MIN_SECONDS, POLL_MIN_SECONDS
            else:
                wait, idle_wait = idle_wait, min(2 * idle_wait, POLL_MAX_SECONDS)
            self._pause(wait)

    def _pause(self, seconds: float) -> None:
        """Wait `seconds`, and then until a thread is free, cutting overdue attempts every tick meanwhile."""
        end = self.clock() + seconds
        with self._slots:
            while not self._stop.is_set():
                remaining = end - self.clock()
                if remaining <= 0 and self._in_flight < self.threads:
                    return
                self._slots.wait(TICK_SECONDS if remaining <= 0 else min(TICK_SECONDS, remaining))
                self.deadlines.cut_overdue()

    def _deliver(self, delivery: Delivery) -> None:
        try:
            answer = self.client.post(delivery.event)
            self._record(delivery, answer, next_step(self.schedule, delivery.attempt, answer))
        except StoreUnavailableError as error:
            log.warning("push: could not record an attempt; the event will be pushed again after its lease",
                        extra={"event_id": delivery.event.id, "reason": str(error)})
        except Exception:  # noqa: BLE001 - a bug in one delivery must not take a thread's slot for ever
            log.exception("push attempt raised", extra={"event_id": delivery.event.id})
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def _record(self, delivery: Delivery, answer: Answer, step: Step) -> None:
        metrics.PUSH_ATTEMPTS.labels(answer.result.value).inc()
        details = {"event_id": delivery.event.id, "attempt": delivery.attempt, "result": answer.result.value,
                   "status": answer.status, "reason": answer.reason or None}
        match step:
            case Delivered():
                self.events.succeed(delivery.event.id)
                metrics.PUSH_DELIVERED.inc()
            case Retry(delay):
                self.events.retry(delivery.event.id, delay)
                log.warning("push attempt failed; retrying", extra={**details, "next_attempt_in_s": delay})
            case GiveUp(gone):
                self.events.give_up(delivery.event.id)
                metrics.PUSH_GIVEN_UP.inc()
                log.error("push given up: the receiver answered 410 Gone" if gone else
                          "push given up: every attempt of the retry schedule failed", extra=details)

    def _publish_backlog(self) -> None:
        now = self.clock()
        if now - self._backlog_at < BACKLOG_EVERY_SECONDS:
            return
        self._backlog_at = now
        waiting, oldest_age = self.events.backlog()
        metrics.PUSH_BACKLOG.set(waiting)
        metrics.PUSH_BACKLOG_AGE.set(oldest_age)
