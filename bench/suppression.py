"""What the suppression check costs: the service with SMSP_SUPPRESSION on and off, the list in the default SQLite
file and in Redis, the four interleaved in one run, at 0 and at 100 ms of provider latency."""
from __future__ import annotations

import contextlib
from pathlib import Path

from bench.measure import at_latencies
from bench.report import _cells, _ratios
from bench.servers import email_target, gunicorn_cpu, service, start
from sendmailproxy.store import open_backend
from sendmailproxy.suppression import open_suppressions
from sendmailproxy.suppression.store import Entry
from testkit.redisserver import RedisServer

GOAL = 0.95  # throughput with the check at least this share of throughput without it (issue 22)
LISTED = 10_000  # entries on the list, none of them the bench message's recipient: a lookup that finds nothing
STORES = ("SQLite", "Redis")


def run(settings, fake, logs: Path, latencies_ms=(0, 100)) -> dict:
    """{latency: {"connections", "runs": {target: runs}}} for the check on and off with either store."""
    with contextlib.ExitStack() as stack:
        redis = RedisServer(logs)  # persistence off: the store's own cost, not the disk's
        stack.callback(redis.stop)
        redis.start()
        servers = {}
        for store in STORES:
            for check in ("on", "off"):
                name = f"{store}, check {check}"
                url = {"Redis": {"SMSP_STORE": redis.url, "SMSP_IDEMPOTENCY_STORE": redis.url}}.get(store, {})
                server = service(fake, logs, f"service-suppression-{store.lower()}-{check}", SMSP_SUPPRESSION=check,
                                 **url)
                _fill(server.env["SMSP_IDEMPOTENCY_STORE"])
                servers[name] = start(stack, server)
        targets = {name: email_target(server) for name, server in servers.items()}
        cpu = {name: gunicorn_cpu(server) for name, server in servers.items()}
        return at_latencies("suppression check", targets, cpu, settings, fake, logs, latencies_ms)


def _fill(store_url: str) -> None:
    """Put LISTED addresses on the list the server will read (once per store: the first entry stays)."""
    suppressions = open_suppressions(open_backend(store_url))
    for n in range(LISTED):
        suppressions.add(Entry(f"listed-{n}@example.com", "bounced", "mailgun", "2026-12-03T00:00:00Z"))


def render(results: dict) -> str:
    """The scenario's tables: each target's figures, and each store's throughput with the check as a share of
    without it."""
    lines = ["### The suppression check (`./bench/run --suppression`): on against off", "",
             f"The service with `SMSP_SUPPRESSION` on and off, the list ({LISTED:,} addresses, none of them the "
             "message's recipient) in the default SQLite file or on a local redis-server (persistence off); "
             "with the check on, each request looks its recipients up once.", ""]
    for latency, scenario in results.items():
        rows, stats = _cells(scenario["runs"])
        ratios = []
        for store in STORES:
            on, off = stats[f"{store}, check on"], stats[f"{store}, check off"]
            share = on["rps"] / off["rps"]
            ratios += [(f"{store}: on / off, req/s", share, f">= {GOAL:g} {'met' if share >= GOAL else '**missed**'}"),
                       (f"{store}: off / on, CPU per request", off["cpu_ms"] / on["cpu_ms"], "")]
        lines += [f"Provider latency {latency} ms, {scenario['connections']} connections:", "", *rows,
                  *_ratios(ratios)]
    return "\n".join(lines)
