"""Repeated wrk runs, interleaved across servers so machine noise hits every one alike; medians per cell."""
from __future__ import annotations

import contextlib
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from bench.servers import PeakMemory
from bench.wrk import Target, WrkResult, run_wrk


def measure(targets: dict[str, Target], connections: int, *, seconds: float, reps: int, warmup_s: float,
            fake, raw_log: Path, cpu: dict[str, Callable[[], float]],
            watch: dict[str, PeakMemory] | None = None) -> dict[str, list[dict]]:
    """`reps` wrk runs per target, rotating the order each round; each run's result as a dict.

    `cpu[name]` reads the CPU seconds used so far by that target's server, so each run also records the
    server's CPU time per request: unlike req/s, it hardly moves when other processes take the cores.
    A target named in `watch` has its server's RSS sampled during its runs (not the warm-up).
    """
    results: dict[str, list[dict]] = {name: [] for name in targets}
    names = list(targets)
    for name in names:  # fill connection pools and thread pools; not counted
        _run(targets[name], connections, warmup_s, fake, raw_log, f"warm-up {name}")
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            cpu_before = cpu[name]()
            with (watch or {}).get(name) or contextlib.nullcontext():
                result = _run(targets[name], connections, seconds, fake, raw_log, name)
            cpu_ms = 1000 * (cpu[name]() - cpu_before) / max(result.requests, 1)
            results[name].append({**asdict(result), "cpu_ms_per_request": cpu_ms})
            print(f"  {name:<16} c={connections:<4} {result.rps:9.1f} req/s  p50 {result.p50_ms:8.2f} ms  "
                  f"p99 {result.p99_ms:8.2f} ms  cpu/req {cpu_ms:6.2f} ms  errors {result.errors}", flush=True)
    return results


def at_latencies(title: str, targets: dict[str, Target], cpu: dict[str, Callable[[], float]], settings, fake,
                 logs: Path, latencies_ms) -> dict[str, dict]:
    """measure() at each provider latency: {latency: {"connections", "runs"}}, with scenario 1's connections at
    0 ms and scenario 2's otherwise (a side-by-side comparison such as --idempotency or --suppression)."""
    results = {}
    for latency in latencies_ms:
        connections = settings.light_connections if latency == 0 else settings.heavy_connections
        print(f"{title}, provider latency {latency} ms, {connections} connections")
        fake.control.set_fault("mailgun", "ok", latency_ms=latency)
        results[str(latency)] = {"connections": connections, "runs": measure(
            targets, connections, cpu=cpu, seconds=settings.seconds, reps=settings.reps,
            warmup_s=settings.warmup_s, fake=fake, raw_log=logs.parent / "wrk-output.txt")}
    fake.control.reset_faults()
    return results


def _run(target: Target, connections: int, seconds: float, fake, raw_log: Path, label: str) -> WrkResult:
    result, text = run_wrk(target, connections, seconds)
    fake.control.clear()  # the fake keeps every message; a long run must not grow it without bound
    with raw_log.open("a") as log:
        log.write(f"### {label} c={connections}\n{text}\n")
    return result


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summary(runs: list[dict]) -> dict[str, float]:
    """Medians of req/s, p50, p99 and CPU ms per request over the runs, the req/s range, and all errors."""
    return {
        "rps": median(runs, "rps"), "p50_ms": median(runs, "p50_ms"), "p99_ms": median(runs, "p99_ms"),
        "cpu_ms": median(runs, "cpu_ms_per_request"),
        "rps_min": min(r["rps"] for r in runs), "rps_max": max(r["rps"] for r in runs),
        "errors": sum(r["non_2xx"] + r["socket_errors"] for r in runs), "requests": sum(r["requests"] for r in runs),
    }
