"""The benchmark: `./bench/run [--quick | --sweep | --profile | --idempotency | --suppression | --push
| --intake] [--before REV]`; all on 127.0.0.1."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gunicorn

from bench import idempotency, report, smtp, timeline
from bench.measure import measure
from bench.profile import owners, profile_all, record, samples, shares
from bench.servers import (DEFAULT_THREADS, DEFAULT_WORKERS, PeakMemory, baseline, clean_environment,
                           cpu_seconds, earlier, email_target, gunicorn_cpu, mailgun_target, memory, service, start)
from bench.wrk import parse_wrk, run_wrk
from fakeproviders.client import run_fake_providers
from testkit.harness import ROOT

__all__ = ["main", "parse_wrk"]  # parse_wrk: wrk's output, read by a pure function (tests/bench)

OUT = ROOT / ".bench-out"
LATENCY_MS = 100
SYNC = {"GUNICORN_CMD_ARGS": "--worker-class sync --threads 1"}  # threads > 1 would turn sync into gthread


@dataclass(frozen=True)
class Settings:
    seconds: float  # one measured wrk run
    reps: int  # runs per cell; the tables show medians
    warmup_s: float
    light_connections: int  # scenario 1
    heavy_connections: int  # scenario 2
    few_connections: int  # scenario 3: the latency a proxy adds when nothing queues
    profile_s: float  # py-spy per server under scenario 1's load
    timeline: timeline.Plan


FULL = Settings(6, 5, 2, 64, 256, 4, 10, timeline.Plan(rate=100, threads=16, stop_at=5, restart_at=15, duration=25))
QUICK = Settings(3, 1, 1, 64, 256, 4, 4, timeline.Plan(rate=100, threads=16, stop_at=2, restart_at=6, duration=14))
SWEEP = Settings(3, 3, 1, 64, 256, 4, 0, FULL.timeline)
SWEEP_WORKERS, SWEEP_THREADS, SWEEP_LATENCIES_MS = (1, 2, 3, 4), (16, 32, 64, 128), (LATENCY_MS, 300)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__, epilog=(
        "Without an option: scenarios 1-6 and a profile (about 8 minutes, 10 with --before), writing "
        "bench/RESULTS.md, the README's numbers and docs/failover-timeline.png; raw wrk output, results.json, "
        "py-spy stacks and server logs go to .bench-out/."))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a ~3 minute smoke run (1 run per cell); writes .bench-out/")
    mode.add_argument("--sweep", action="store_true",
                      help="scenarios 1 and 2 (100 and 300 ms) over workers x threads, ~9 minutes; bench/SWEEP.md")
    mode.add_argument("--profile", action="store_true",
                      help="py-spy the service's and the naive proxy's workers under both loads; .bench-out/")
    mode.add_argument("--soak", action="store_true",
                      help="the service under a steady load for 10 minutes, its workers' memory sampled; bench/SOAK.md")
    mode.add_argument("--idempotency", action="store_true",
                      help="Idempotency-Key requests (SQLite, Redis) against none, ~4 minutes; "
                           "bench/IDEMPOTENCY.md")
    mode.add_argument("--suppression", action="store_true",
                      help="the suppression check on and off (SQLite, Redis), ~6 minutes; bench/SUPPRESSION.md")
    mode.add_argument("--push", action="store_true",
                      help="events pushed per second to a local receiver (at once, 100 ms), ~1 minute; bench/PUSH.md")
    mode.add_argument("--intake", action="store_true",
                      help="SendGrid webhook batches of 100 signed events stored per second (SQLite, Redis), ~2 "
                           "minutes; bench/INTAKE.md")
    parser.add_argument("--before", metavar="REV",
                        help="also run the service as of commit REV in scenarios 1-3 and the profile, for before/after "
                             "columns")
    args = parser.parse_args(argv)
    if args.before and (args.sweep or args.profile or args.idempotency or args.suppression or args.push or args.soak
                        or args.intake):
        parser.error("--before goes with the scenarios (no option, or --quick)")
    clean_environment()
    (OUT / "logs").mkdir(parents=True, exist_ok=True)
    for old_log in (OUT / "logs").glob("*.log"):  # servers append; keep only this run's (~100 MB a run)
        old_log.unlink()
    started = time.monotonic()
    if args.sweep:
        from bench.sweep import sweep

        text = sweep(SWEEP, SWEEP_WORKERS, SWEEP_THREADS, SWEEP_LATENCIES_MS, machine(SWEEP), OUT)
        write(ROOT / "bench" / "SWEEP.md", text)
    elif args.idempotency:
        with run_fake_providers() as fake:
            results = idempotency.run(FULL, fake, OUT / "logs")
        (OUT / "idempotency.json").write_text(json.dumps(results, indent=1))
        write(ROOT / "bench" / "IDEMPOTENCY.md", idempotency.render(results))
    elif args.suppression:
        from bench import suppression

        with run_fake_providers() as fake:
            results = suppression.run(FULL, fake, OUT / "logs")
        (OUT / "suppression.json").write_text(json.dumps(results, indent=1))
        write(ROOT / "bench" / "SUPPRESSION.md", suppression.render(results), keep_from=report.NOTES_HEADING)
    elif args.push:
        from bench import push

        with run_fake_providers() as fake:
            write(ROOT / "bench" / "PUSH.md", push.render(push.run(OUT / "logs", fake)))
    elif args.intake:
        from bench import intake

        with run_fake_providers() as fake:
            results = intake.run(OUT / "logs", fake)
        (OUT / "intake.json").write_text(json.dumps(results, indent=1))
        write(ROOT / "bench" / "INTAKE.md", intake.render(results), keep_from=report.NOTES_HEADING)
    elif args.soak:
        from bench import soak

        with run_fake_providers() as fake:
            results = soak.run(fake, OUT / "logs")
        (OUT / "soak.json").write_text(json.dumps(results, indent=1))
        write(ROOT / "bench" / "SOAK.md", soak.render(results))
    elif args.profile:
        profile_all(FULL, OUT)
    else:
        settings = QUICK if args.quick else FULL
        where = OUT if args.quick else ROOT / "bench"  # of RESULTS.md
        results = run_all(settings, png=(OUT if args.quick else ROOT / "docs") / "failover-timeline.png",
                          results_dir=where, before=args.before)
        results["command"] = " ".join(["./bench/run", *(argv if argv is not None else sys.argv[1:])])
        (OUT / "results.json").write_text(json.dumps(results, indent=1))
        text = report.render(results) + "\n".join(smtp.render(results))
        if "keys" in results:
            text += "\n" + idempotency.render(results["keys"])
        write(where / "RESULTS.md", text, keep_from=report.NOTES_HEADING)
        if not args.quick:
            update_readme(ROOT / "README.md", report.summary(results))
    print(f"done in {time.monotonic() - started:.0f} s")


def run_all(settings: Settings, png: Path, results_dir: Path, before: str | None = None) -> dict:
    """Scenarios 1-6 against the fake providers, with the servers interleaved, and the profile; plain data.

    With `before`, the service as of that commit runs alongside in scenarios 1-3 and the profile.
    """
    logs, raw = OUT / "logs", OUT / "wrk-output.txt"
    raw.write_text("")
    results = {"machine": machine(settings), "settings": asdict(settings), "before": before}
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(run_fake_providers())
        proxy = start(stack, service(fake, logs, "service"))
        floor = start(stack, baseline(fake, logs, "floor"))
        naive = start(stack, baseline(fake, logs, "naive_proxy"))
        servers = {"floor": floor, "naive": naive}
        if before:
            servers["before"] = start(stack, earlier(fake, logs, before, OUT))
        servers["service"] = proxy
        proxies = [name for name in servers if name != "floor"]
        results["memory"] = {"service": {"rest": memory(proxy)}, "naive": {"rest": memory(naive)}}
        run = dict(seconds=settings.seconds, reps=settings.reps, warmup_s=settings.warmup_s, fake=fake, raw_log=raw)
        targets = {**{name: email_target(server) for name, server in servers.items()},
                   "fake mailgun": mailgun_target(fake)}
        cpu = {**{name: gunicorn_cpu(server) for name, server in servers.items()},
               "fake mailgun": lambda: cpu_seconds([fake.process.pid])}

        print(f"scenario 1: provider latency 0, {settings.light_connections} connections")
        results["scenario1"] = measure(targets, settings.light_connections, cpu=cpu, **run)

        print(f"profile: py-spy under scenario 1's load, {settings.profile_s:g} s per server")
        results["profile"] = profile_servers({name: servers[name] for name in proxies}, settings, fake)

        print(f"scenario 3: provider latency 0, {settings.few_connections} connections")
        results["scenario3"] = measure({name: targets[name] for name in proxies}, settings.few_connections,
                                       cpu=cpu, **run)

        print(f"scenario 2: provider latency {LATENCY_MS} ms, {settings.heavy_connections} connections")
        fake.control.set_fault("mailgun", "ok", latency_ms=LATENCY_MS)
        peaks = {"service": PeakMemory(proxy), "naive": PeakMemory(naive)}
        del targets["floor"]
        results["scenario2"] = measure(targets, settings.heavy_connections, cpu=cpu, watch=peaks, **run)
        results["scenario2_sync"] = sync_run(fake, settings, logs)
        for name, sampler in peaks.items():
            results["memory"][name]["load"] = sampler.peak()
        fake.control.reset_faults()
        for server in servers.values():  # nothing but the service and the client from here on
            if server is not proxy:
                server.stop()

        print("scenario 4: failover timeline")
        results["timeline"] = failover(proxy, fake, settings.timeline, png, results_dir)
        proxy.stop()

        print("keyed requests: a new Idempotency-Key each, SQLite and Redis, against none; provider latency 0")
        results["keys"] = idempotency.run(settings, fake, logs, latencies_ms=(0,))

        print(f"scenario 6: SMTP relay, latency 0, {settings.light_connections} connections")
        results["smtp"] = smtp.scenario(logs, settings.light_connections, **run)
    results["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def profile_servers(servers: dict, settings: Settings, fake) -> dict[str, dict]:
    """Each server's SHARES under scenario 1's load (py-spy, one after the other), and its req/s meanwhile."""
    profiles = {}
    for name, server in servers.items():
        folded = OUT / f"profile-{name}.txt"
        rps = record(server, email_target(server), settings.light_connections, settings.profile_s, folded)
        fake.control.clear()
        text = folded.read_text()
        profiles[name] = {"rps": rps, "samples": samples(text), "shares": shares(text), "owners": owners(text)}
        print(f"  {name:<16} {rps:9.1f} req/s under py-spy; {folded.relative_to(ROOT)}")
    return profiles


def sync_run(fake, settings: Settings, logs: Path) -> dict:
    """The service on sync workers, counted where the messages land: with 256 connections queued on two
    sync workers each request waits far longer than a run, so wrk itself sees almost no answers."""
    with contextlib.ExitStack() as stack:
        try:
            sync = start(stack, service(fake, logs, "service-sync", **SYNC))
        except AssertionError as error:  # the harness's word for a gunicorn that would not serve
            reason = _last_error(str(error))
            print(f"  service sync: did not start: {reason}")
            return {"error": reason}
        fake.control.clear()
        result, _ = run_wrk(email_target(sync), settings.heavy_connections, settings.seconds)
        accepted = fake.control.stats()["mailgun"]["accepted"]
    fake.control.clear()
    print(f"  service sync     c={settings.heavy_connections:<4} {accepted / result.seconds:9.1f} req/s at the fake "
          f"({result.requests} answers seen by wrk)")
    return {"accepted": accepted, "seconds": result.seconds, "rps": accepted / result.seconds,
            "wrk": asdict(result)}


def _last_error(text: str) -> str:
    """The last line of a traceback in a gunicorn log tail, or the first line of `text`."""
    raw = [line for line in text.splitlines()[1:] if line.strip() and not line.startswith("{")]
    return (raw or text.splitlines())[-1].strip()


def failover(proxy, fake, plan: timeline.Plan, png: Path, results_dir: Path) -> dict:
    """Scenario 4: the timeline's numbers, and its picture in `png` (linked from `results_dir`)."""
    samples, skipped = timeline.drive(proxy.url + "/email", plan, lambda: fake.control.set_fault("mailgun", "stopped"),
                                      lambda: fake.control.set_fault("mailgun", "ok"))
    summary = timeline.summarize(samples, plan, skipped)
    (OUT / "timeline-samples.json").write_text(json.dumps([asdict(sample) for sample in samples]))
    timeline.plot(samples, plan, png, f"Failover at {plan.rate:g} req/s offered: {DEFAULT_WORKERS} workers x "
                                      f"{DEFAULT_THREADS} threads, default SMSP_POLL_INTERVAL (5 s)")
    print(f"  {summary}")
    return {"plan": asdict(plan), "summary": summary, "png": os.path.relpath(png, results_dir)}


def machine(settings: Settings) -> dict:
    """What the numbers were measured on."""
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cores": os.cpu_count(), "python": platform.python_version(), "gunicorn": gunicorn.__version__,
            "wrk": wrk.split(" [")[0], "load_at_start": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d"), "workers": DEFAULT_WORKERS, "threads": DEFAULT_THREADS,
            "latency_ms": LATENCY_MS, "seconds": settings.seconds, "reps": settings.reps}


def write(path: Path, text: str, keep_from: str | None = None) -> None:
    """Write `text` to `path`, keeping what `path` already has from the line `keep_from` on."""
    old = path.read_text() if keep_from and path.exists() else ""
    kept = old[old.index(keep_from):] if keep_from and keep_from in old else ""
    path.write_text(text + ("\n" + kept if kept else ""))
    print(f"\n{text}\nwrote {path.relative_to(ROOT)}")


def update_readme(path: Path, summary: str) -> None:
    """Replace the README's text between the bench markers with `summary`."""
    text = path.read_text()
    begin, end = text.index(report.README_BEGIN) + len(report.README_BEGIN), text.index(report.README_END)
    path.write_text(f"{text[:begin]}\n{summary}\n{text[end:]}")
    print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
