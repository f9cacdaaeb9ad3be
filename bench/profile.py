"""`--profile`: py-spy samples every worker of the service and of the naive proxy under each scenario's load."""
from __future__ import annotations

import collections
import contextlib
import re
import subprocess
import sys
from pathlib import Path

from bench.servers import baseline, email_target, service, start
from bench.wrk import run_wrk
from fakeproviders.client import run_fake_providers

PY_SPY = Path(sys.executable).with_name("py-spy")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def profile_all(settings, out: Path, seconds: float = 10) -> None:
    """Folded stacks per server and load in `out`, and a summary of where the time goes printed."""
    loads = {"latency0": (0, settings.light_connections), "latency100": (100, settings.heavy_connections)}
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(run_fake_providers())
        servers = {"service": start(stack, service(fake, out / "logs", "profile-service")),
                   "naive": start(stack, baseline(fake, out / "logs", "naive_proxy"))}
        for load, (latency_ms, connections) in loads.items():
            fake.control.set_fault("mailgun", "ok", latency_ms=latency_ms)
            for name, server in servers.items():
                run_wrk(email_target(server), connections, settings.warmup_s)
                folded = out / f"profile-{load}-{name}.txt"
                sampler = subprocess.Popen(
                    [str(PY_SPY), "record", "--pid", str(server.process.pid), "--subprocesses", "--gil",
                     "--rate", "100", "--duration", f"{seconds:g}", "--format", "raw",
                     "--output", str(folded)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    result, _ = run_wrk(email_target(server), connections, seconds + 1)
                    sampler.wait(seconds + 30)
                finally:
                    if sampler.poll() is None:
                        sampler.kill()
                        sampler.wait()
                fake.control.clear()
                print(f"\n=== {name}, provider latency {latency_ms} ms, {connections} connections: "
                      f"{result.rps:.0f} req/s under the profiler; {folded}")
                print(summarize(folded.read_text()))


def summarize(folded: str, top: int = 25) -> str:
    """Self and inclusive shares of the GIL-holding samples, by function and by package."""
    own, inclusive, packages = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_name(frame) for frame in stack.split(";") if _FRAME.match(frame)]
        if not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        for package in {_package(frame) for frame in frames}:
            packages[package] += int(count)
    if not total:
        return "(no samples)"

    def table(title, counter, n):
        rows = [f"  {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n)]
        return "\n".join([f"{title} ({total} samples)", *rows])

    return "\n\n".join([table("self", own, top), table("inclusive", inclusive, 2 * top),
                        table("inclusive by package", packages, 20)])


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match["file"]
    short = path.split("site-packages/")[-1].split("/lib/python3")[-1]
    return f"{match['function']} ({short.split('/main/')[-1]})"


def _package(name: str) -> str:
    path = name.rpartition("(")[2].rstrip(")")
    return path.split("/")[0] if "/" in path else path
