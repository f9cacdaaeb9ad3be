"""Scenario 5: what an Idempotency-Key costs. Requests without a key, and with a new key each, kept in the default
SQLite file or in Redis; the three interleaved in one run, at 0 and at 100 ms of provider latency."""
from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

from bench.measure import at_latencies
from bench.report import GOALS, _cells, _ratios
from bench.servers import email_target, gunicorn_cpu, service, start
from testkit.redisserver import RedisServer

KEY_HEADER = "Idempotency-Key"


def run(settings, fake, logs: Path, latencies_ms=(0, 100)) -> dict:
    """{latency: {"connections", "runs": {target: runs}}} for unkeyed, keyed (SQLite) and keyed (Redis) requests."""
    with contextlib.ExitStack() as stack:
        redis = RedisServer(logs)  # persistence off: the store's own cost, not the disk's
        stack.callback(redis.stop)
        redis.start()
        sqlite = start(stack, service(fake, logs, "service-keys-sqlite"))
        shared = start(stack, service(fake, logs, "service-keys-redis", SMSP_IDEMPOTENCY_STORE=redis.url))
        unkeyed = email_target(sqlite)
        targets = {"no key": unkeyed, "key, SQLite": replace(unkeyed, unique_header=KEY_HEADER),
                   "key, Redis": replace(email_target(shared), unique_header=KEY_HEADER)}
        cpu = {"no key": gunicorn_cpu(sqlite), "key, SQLite": gunicorn_cpu(sqlite), "key, Redis": gunicorn_cpu(shared)}
        return at_latencies("Idempotency-Key", targets, cpu, settings, fake, logs, latencies_ms)


def render(results: dict) -> str:
    """The scenario's tables: each target's figures, and keyed throughput as a share of unkeyed."""
    lines = ["### Idempotency-Key: a new key per request, against none (0 ms in the full run; 0 and 100 ms with "
             "`./bench/run --idempotency`)", "",
             "The service with its defaults (the SQLite file in the temporary directory) and a second one "
             "with `SMSP_IDEMPOTENCY_STORE` on a local redis-server (persistence off); each keyed request "
             "writes twice: its reservation, which names the first provider, and its answer.", ""]
    for latency, scenario in results.items():
        rows, stats = _cells(scenario["runs"])
        base = stats["no key"]
        ratios = []
        for name in ("key, SQLite", "key, Redis"):
            share, (meets, bound) = stats[name]["rps"] / base["rps"], GOALS[name]
            ratios.append((f"{name} / no key, req/s", share, f">= {bound:g} {'met' if meets(share, bound) else '**missed**'}"))
        ratios += [(f"no key / {name}, CPU per request", base["cpu_ms"] / stats[name]["cpu_ms"], "")
                   for name in ("key, SQLite", "key, Redis")]
        lines += [f"Provider latency {latency} ms, {scenario['connections']} connections:", "", *rows,
                  *_ratios(ratios)]
    return "\n".join(lines)
