"""`--sweep`: scenarios 1 and 2 for a grid of workers x threads, to choose the service's defaults."""
from __future__ import annotations

import contextlib
import itertools
import json
from pathlib import Path

from bench.measure import measure, summary
from bench.servers import email_target, gunicorn_cpu, memory, service, start
from fakeproviders.client import run_fake_providers


def sweep(settings, workers_grid, threads_grid, latencies_ms, machine: dict, out: Path) -> str:
    """Every configuration up at once, so the interleaved runs see the same noise; the markdown report.

    Scenario 2 runs once per provider latency in `latencies_ms`: how many threads a worker needs depends on
    how long the provider keeps each one waiting.
    """
    raw = out / "sweep-wrk-output.txt"
    raw.write_text("")
    grid = list(itertools.product(workers_grid, threads_grid))
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(run_fake_providers())
        servers = {f"{w}x{t}": start(stack, service(fake, out / "logs", f"sweep-{w}x{t}", WEB_CONCURRENCY=w,
                                                    SMSP_THREADS=t)) for w, t in grid}
        rest = {key: memory(server) for key, server in servers.items()}
        targets = {key: email_target(server) for key, server in servers.items()}
        run = dict(seconds=settings.seconds, reps=settings.reps, warmup_s=settings.warmup_s, fake=fake, raw_log=raw,
                   cpu={key: gunicorn_cpu(server) for key, server in servers.items()})
        print(f"sweep, scenario 1: provider latency 0, {settings.light_connections} connections")
        light = measure(targets, settings.light_connections, **run)
        heavy = {}
        for latency_ms in latencies_ms:
            print(f"sweep, scenario 2: provider latency {latency_ms} ms, {settings.heavy_connections} connections")
            fake.control.set_fault("mailgun", "ok", latency_ms=latency_ms)
            heavy[latency_ms] = measure(targets, settings.heavy_connections, **run)
    (out / "sweep.json").write_text(json.dumps({"light": light, "heavy": heavy, "rest": rest}, indent=1))
    return render(light, heavy, rest, workers_grid, threads_grid, settings, machine)


def render(light, heavy, rest, workers_grid, threads_grid, settings, machine) -> str:
    def table(title: str, cell) -> list[str]:
        lines = [f"#### {title}", "", "| workers \\ threads | " + " | ".join(map(str, threads_grid)) + " |",
                 "|---" * (len(threads_grid) + 1) + "|"]
        for w in workers_grid:
            lines.append(f"| {w} | " + " | ".join(cell(f"{w}x{t}") for t in threads_grid) + " |")
        return lines + [""]

    def stat(results, key, digits=0):
        def cell(config):
            s = summary(results[config])
            errors = s["errors"]
            return f"{s[key]:.{digits}f}" + (f" ({errors} errors)" if errors else "")
        return cell

    def rss(config):
        return f"{rest[config]['master'] + sum(rest[config]['workers']):.0f}"

    connections = settings.heavy_connections
    scenario2 = []
    for latency_ms, results in heavy.items():
        title = f"Scenario 2 at {latency_ms} ms, {connections} connections"
        scenario2 += [
            *table(f"{title}: req/s (thread bound: workers x threads / {latency_ms / 1000:g} s)", stat(results, "rps")),
            *table(f"{title}: p99 ms", stat(results, "p99_ms")),
            *table(f"{title}: CPU ms per request", stat(results, "cpu_ms", 2)),
        ]
    return "\n".join([
        "## Workers x threads sweep", "",
        f"`./bench/run --sweep` on {machine['date']}: {machine['cores']} cores (shared), Python {machine['python']}, "
        f"gunicorn {machine['gunicorn']}. Median of {settings.reps} wrk runs of {settings.seconds:g} s per cell, "
        "every configuration running at once and interleaved. CPU ms per request is the service's own (master and "
        f"workers). Load average {machine['load_at_start'][0]:g} at the start.", "",
        *table(f"Scenario 1 at 0 ms, {settings.light_connections} connections: req/s", stat(light, "rps")),
        *table("Scenario 1: p99 ms", stat(light, "p99_ms")),
        *table("Scenario 1: CPU ms per request", stat(light, "cpu_ms", 2)),
        *scenario2,
        *table("RSS at rest, master + workers (MiB)", rss),
    ])
