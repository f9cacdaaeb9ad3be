"""Events pushed per second: the service (default workers) draining a backlog of stored events to a local
receiver that answers at once, or after 100 ms; SQLite and Redis stores. `./bench/run --push`; bench/PUSH.md."""
from __future__ import annotations

import base64
import contextlib
import os
import time
from pathlib import Path

from bench.servers import DEFAULT_WORKERS, service, start
from sendmailproxy.events import open_events
from sendmailproxy.events.model import Event, rfc3339
from sendmailproxy.push.sender import THREADS
from sendmailproxy.store import open_backend
from testkit.polling import wait_until
from testkit.pushreceiver import PushReceiver, Reply
from testkit.redisserver import RedisServer

GOAL = 500  # events per second with the receiver that answers at once
RECEIVERS = {"answers at once": (0.0, 5000), "answers in 100 ms": (0.1, 800)}  # delay, events per run


def run(logs: Path, fake) -> list[dict]:
    """One row per store and receiver: events, seconds from the store holding them to the last arriving, rate."""
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    rows = []
    with contextlib.ExitStack() as stack:
        redis = RedisServer(logs)
        stack.callback(redis.stop)
        redis.start()
        for store, url in (("SQLite", f"sqlite://{logs / 'push-bench.sqlite3'}"), ("Redis", redis.url)):
            receiver = PushReceiver([secret]).start()
            stack.callback(receiver.stop)
            start(stack, service(fake, logs, f"service-push-{store.lower()}", SMSP_EVENTS_WEBHOOK_URL=receiver.url,
                                 SMSP_EVENTS_WEBHOOK_SECRET=secret, SMSP_STORE=url, SMSP_IDEMPOTENCY_STORE=url))
            events = open_events(open_backend(url), push=True)
            for name, (delay, count) in RECEIVERS.items():
                receiver.default, receiver.pushes = Reply(200, delay=delay), []
                batch = [_event(n) for n in range(count)]
                started = time.monotonic()
                for first in range(0, count, 500):  # as webhook POSTs would arrive, in batches
                    events.add(batch[first:first + 500])
                wait_until(lambda: len(receiver.ids()) == count, f"{count} pushes", 300, 0.01)
                seconds = max(push.at for push in receiver.pushes) - started
                verified = all(push.verified for push in receiver.pushes)
                rows.append({"store": store, "receiver": name, "events": count, "seconds": round(seconds, 2),
                             "per_second": round(count / seconds), "duplicates": len(receiver.pushes) - count,
                             "verified": verified})
                print(f"  {store:<6} receiver {name:<18} {count / seconds:7.0f} events/s")
    return rows


def render(rows: list[dict]) -> str:
    """The table for bench/PUSH.md."""
    lines = ["### Events pushed (`./bench/run --push`)", "",
             f"The service with its defaults ({DEFAULT_WORKERS} workers, each sender {THREADS} threads and "
             "connections) drains a backlog of events stored in batches of 500 to a local receiver (a Python "
             "threaded server on the same machine, verifying each push with `standardwebhooks`). Seconds run from "
             f"the first batch stored to the last push received. Goal: at least {GOAL} events/s with the receiver "
             "that answers at once.", "",
             f"Measured on {os.cpu_count()} cores shared with other work (load average "
             f"{os.getloadavg()[0]:.1f} at the end), {time.strftime('%Y-%m-%d')}.", "",
             "| store | receiver | events | seconds | events/s | duplicates | all verified |",
             "|---|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r['store']} | {r['receiver']} | {r['events']} | {r['seconds']} | {r['per_second']} | "
              f"{r['duplicates']} | {'yes' if r['verified'] else 'NO'} |" for r in rows]
    return "\n".join(lines) + "\n"


def _event(n: int) -> Event:
    return Event(id=f"ev_{os.urandom(8).hex()}{n:016x}", type="delivered", provider="mailgun",
                 message_id=f"<bench-{n}@example.com>", recipient="rcpt@example.com", occurred_at=rfc3339(time.time()))
