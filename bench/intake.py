"""Webhook intake: the service (default workers) storing SendGrid batches of 100 signed events, each new, from a
few client threads, SQLite and Redis interleaved. `./bench/run --intake`; bench/INTAKE.md."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.servers import DEFAULT_THREADS, DEFAULT_WORKERS, gunicorn_cpu, service, start
from fakeproviders.signing import SendGridSigner, json_body
from sendmailproxy.events import open_events
from sendmailproxy.store import MAX_PAGE, open_backend
from testkit.redisserver import RedisServer

GOAL = 5000  # events stored per second with SQLite (issue 22)
BATCH = 100  # events per POST
CLIENTS = 8  # client threads, one keep-alive connection each
SECONDS, REPS = 10, 3
CEILING = 20_000  # events/s the pre-signed batches of one run can feed; a run that uses them all ends early
KINDS = ("delivered", "open", "click", "deferred")  # all kept; none suppresses its recipient


def run(logs: Path, fake, seconds: float = SECONDS, reps: int = REPS) -> dict:
    """Per store: each run's figures, and the events the store holds at the end against the 200s' `stored`."""
    signer = SendGridSigner()
    sqlite_file = logs / "intake-bench.sqlite3"
    for stale in logs.glob(sqlite_file.name + "*"):  # the count at the end is of this run's events only
        stale.unlink()
    results = {"seconds": seconds, "reps": reps, "batch": BATCH, "clients": CLIENTS, "workers": DEFAULT_WORKERS,
               "threads": DEFAULT_THREADS, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
               "load_at_start": _load(), "stores": {}}
    with contextlib.ExitStack() as stack:
        redis = RedisServer(logs)  # persistence off: the store's own cost, not the disk's
        stack.callback(redis.stop)
        redis.start()
        urls = {"SQLite": f"sqlite://{sqlite_file}", "Redis": redis.url}
        servers = {store: start(stack, service(fake, logs, f"service-intake-{store.lower()}", SMSP_STORE=url,
                                               SMSP_IDEMPOTENCY_STORE=url, SMSP_SG_WEBHOOK_PUBLIC_KEY=signer.public_key))
                   for store, url in urls.items()}
        for store, server in servers.items():
            warm = _post_all(server.url, _batches(signer, 2 * CLIENTS), 60)  # every worker's first verify and write
            results["stores"][store] = {"runs": [], "posted": warm["stored"]}
        for rep in range(reps):
            for store, server in servers.items():
                one = _post_all(server.url, _batches(signer, int(seconds * CEILING / BATCH)), seconds,
                                gunicorn_cpu(server))
                results["stores"][store]["runs"].append(one)
                results["stores"][store]["posted"] += one["stored"]
                print(f"  {store:<6} run {rep + 1}: {one['per_second']:7.0f} events/s  "
                      f"{one['cpu_us_per_event']:6.1f} µs CPU/event  p50 {one['p50_ms']:.1f} ms  "
                      f"errors {one['errors']}")
        for store, url in urls.items():
            results["stores"][store]["counted"] = _count(url)
    results["load_at_end"] = _load()
    return results


def render(results: dict) -> str:
    """The table for bench/INTAKE.md: each store's events/s (median and range), CPU per event, and the goal."""
    lines = ["### Webhook intake (`./bench/run --intake`)", "",
             f"The service with its defaults ({results['workers']} workers x {results['threads']} threads) on "
             f"`POST /webhooks/sendgrid`: batches of {results['batch']} events, each batch's events new (no dedup "
             f"hit), signed with a P-256 key made by the bench before the timed part, posted by "
             f"{results['clients']} client threads (one keep-alive connection each, in one Python process on the "
             f"same cores) for {results['seconds']:g} s, {results['reps']} runs per store, SQLite and Redis "
             "interleaved. Events/s counts the `stored` of the 200 answers; the store's own count at the end "
             f"(paging the feed) is beside it. Goal: at least {GOAL:,} events/s with SQLite.", "",
             f"Measured on {results['cores']} cores shared with other work (load average "
             f"{results['load_at_start'][0]:.1f} at the start, {results['load_at_end'][0]:.1f} at the end), "
             f"{results['date']}.", "",
             "| store | events/s, median (runs) | CPU µs / event | p50 ms / batch | errors | stored (200s) | "
             "in the store at the end | vs goal |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for store, data in results["stores"].items():
        runs = data["runs"]
        rates = [r["per_second"] for r in runs]
        median = statistics.median(rates)
        lines.append(f"| {store} | {median:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | "
                     f"{statistics.median(r['cpu_us_per_event'] for r in runs):.0f} | "
                     f"{statistics.median(r['p50_ms'] for r in runs):.1f} | {sum(r['errors'] for r in runs)} | "
                     f"{data['posted']:,} | {data['counted']:,} | {median / GOAL:.2f} |")
    if any(r["ran_out"] for data in results["stores"].values() for r in data["runs"]):
        lines += ["", f"A run used every pre-signed batch ({CEILING:,} events/s for its time): its rate is a floor."]
    return "\n".join(lines) + "\n"


def _batches(signer: SendGridSigner, count: int) -> queue.SimpleQueue:
    """`count` signed batches (body, headers), every event with its own sg_event_id."""
    prefix, signed_at, batches = os.urandom(6).hex(), int(time.time()), queue.SimpleQueue()
    for b in range(count):
        events = [{"email": f"rcpt-{b}-{n}@example.com", "timestamp": signed_at, "event": KINDS[n % len(KINDS)],
                   "sg_event_id": f"bench-{prefix}-{b}-{n}", "sg_message_id": f"bench{prefix}{b}.filter-{n}",
                   "smtp-id": f"<bench-{b}@example.com>", "category": ["bench"], "order": f"A-{n}",
                   "url": "https://example.com/welcome"} for n in range(BATCH)]
        body = json_body(events)
        batches.put((body, {**signer.headers(body, signed_at), "Content-Type": "application/json"}))
    return batches


def _post_all(url: str, batches: queue.SimpleQueue, seconds: float, cpu=None) -> dict:
    """POST `batches` from CLIENTS threads until they run out or `seconds` pass; the 200s' totals and timings."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    stored, errors, latencies, lock = [0], [0], [], threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection(host, port, timeout=30)
        mine, failed, times = 0, 0, []
        while time.monotonic() < deadline:
            try:
                body, headers = batches.get_nowait()
            except queue.Empty:
                break
            sent = time.perf_counter()
            connection.request("POST", "/webhooks/sendgrid", body, headers)
            response = connection.getresponse()
            answer = response.read()
            times.append(time.perf_counter() - sent)
            if response.status == 200:
                mine += json.loads(answer)["stored"]
            else:
                failed += 1
        connection.close()
        with lock:
            stored[0] += mine
            errors[0] += failed
            latencies.extend(times)

    cpu_before, started = cpu() if cpu else 0.0, time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu_used = cpu() - cpu_before if cpu else 0.0
    return {"batches": len(latencies), "stored": stored[0], "errors": errors[0], "seconds": round(elapsed, 2),
            "per_second": round(stored[0] / elapsed), "ran_out": batches.empty(),
            "cpu_us_per_event": round(cpu_used / max(stored[0], 1) * 1e6, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else 0.0}


def _count(url: str) -> int:
    """The events the store's feed shows, paged through."""
    events, after, total = open_events(open_backend(url)), None, 0
    while True:
        page, after = events.feed(after, MAX_PAGE)
        total += len(page)
        if len(page) < MAX_PAGE:
            return total


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
