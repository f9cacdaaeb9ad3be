"""`--soak`: the service under a steady, paced load for ten minutes, each worker's memory sampled throughout."""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

from bench.servers import Sampler, email_target, rss_mib, service, start
from bench.wrk import run_wrk

SECONDS = 600
SAMPLE_S = 5
CONNECTIONS, DELAY_MS = 16, 40  # at most 16 / 40 ms = 400 req/s: steady, well below what two workers take
SETTLE_S = 60  # pools, caches and allocator arenas fill in the first minute; growth is counted after it
GROWTH_MIB = 1.0  # a worker that grows more than this from its first minute to its last is said to grow


class RssSeries(Sampler):
    """Samples the RSS of a server's master and workers every `interval_s`; and clears the fake provider's message
    list meanwhile, which would otherwise grow for the whole run."""

    def __init__(self, server, fake, interval_s: float = SAMPLE_S):
        super().__init__(interval_s)
        self.server, self.fake = server, fake
        self.samples: list[dict] = []
        self._started = time.monotonic()

    def sample(self) -> None:
        workers = {pid: rss_mib(pid) for pid in sorted(self.server.worker_pids())}
        self.samples.append({"t": time.monotonic() - self._started, "master": rss_mib(self.server.process.pid),
                             "workers": {str(pid): mib for pid, mib in workers.items() if mib is not None}})
        self.fake.control.clear()


def run(fake, logs: Path, seconds: float = SECONDS) -> dict:
    """Memory at rest, then every SAMPLE_S under a paced load of `seconds`; plain data."""
    with contextlib.ExitStack() as stack:
        proxy = start(stack, service(fake, logs, "service-soak"))
        rest = {str(pid): rss_mib(pid) for pid in sorted(proxy.worker_pids())}
        target = replace(email_target(proxy), delay_ms=DELAY_MS)
        print(f"soak: {CONNECTIONS} connections pausing {DELAY_MS} ms before each request, for {seconds:g} s")
        with RssSeries(proxy, fake) as series:
            result, _ = run_wrk(target, CONNECTIONS, seconds)
    print(f"  {result.requests} requests, {result.rps:.0f} req/s, {result.errors} errors")
    return {"seconds": seconds, "connections": CONNECTIONS, "delay_ms": DELAY_MS, "rest": rest,
            "samples": series.samples, "wrk": asdict(result)}


def growth(results: dict) -> dict[str, dict[str, float]]:
    """Per worker pid: RSS at rest, the median over the minute after SETTLE_S, the peak, the median over
    the last minute, and last minus first."""
    samples, end = results["samples"], results["samples"][-1]["t"] if results["samples"] else 0
    pids = sorted({pid for sample in samples for pid in sample["workers"]}, key=int)
    rows = {}
    for pid in pids:
        series = [(s["t"], s["workers"][pid]) for s in samples if pid in s["workers"]]
        first = [mib for t, mib in series if SETTLE_S <= t < SETTLE_S + 60]
        last = [mib for t, mib in series if t >= end - 60]
        if first and last:
            rows[pid] = {"rest": results["rest"].get(pid), "first": statistics.median(first), "peak": max(m for _, m in series),
                         "last": statistics.median(last), "growth": statistics.median(last) - statistics.median(first)}
    return rows


def render(results: dict) -> str:
    """The soak's table: each worker's memory at rest, in its second minute, at its peak and at the end."""
    w = results["wrk"]
    lines = [f"### Memory under a steady load for {results['seconds'] / 60:g} minutes (`./bench/run --soak`)", "",
             f"The service with its defaults; wrk with {results['connections']} keep-alive connections, each pausing "
             f"{results['delay_ms']:g} ms before each request: {w['requests']} requests at {w['rps']:.0f} req/s, "
             f"{w['non_2xx'] + w['socket_errors']} errors. VmRSS sampled every {SAMPLE_S} s; growth is the median of "
             f"the last minute minus the median of the minute after the first {SETTLE_S} s (pools and caches fill "
             "first).", "",
             "| worker | at rest, MiB | second minute | peak | last minute | growth, MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    rows = growth(results)
    for pid, row in rows.items():
        rest = "-" if row["rest"] is None else f"{row['rest']:.1f}"
        lines.append(f"| pid {pid} | {rest} | {row['first']:.1f} | {row['peak']:.1f} | {row['last']:.1f} | "
                     f"{row['growth']:+.1f} |")
    worst = max((row["growth"] for row in rows.values()), default=float("nan"))
    verdict = "no growth" if worst <= GROWTH_MIB else "**grows**"
    return "\n".join(lines + ["", f"Largest growth {worst:+.1f} MiB (at most {GROWTH_MIB:g}: {verdict}).", ""])
