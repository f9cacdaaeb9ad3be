"""py-spy samples of every worker under load: the shares of the leads of issue 14, and `--profile`'s summaries."""
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

# Where a worker's CPU goes, as the share of samples with this code on the stack (rows overlap). Each row:
# a sample counts if a frame contains one of the first strings and none contains one of the second.
SHARES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "requests: the provider call, urllib3 and http.client included": (("(requests/",), ()),
    "requests' Session.send outside the adapter (proxies, hooks, redirects, cookie jar)": (
        ("Session.send (requests/sessions.py)",), ("HTTPAdapter.send (requests/adapters.py)",)),
    "http.cookiejar (cookie jars and their locks)": (("(http/cookiejar.py)",), ()),
    "logging: the JSON log lines": (("(logging/", "(pythonjsonlogger/"), ()),
    "marshmallow: validating the message": (("(marshmallow/",), ()),
    "our Flask request hooks, without their log line": (
        ("begin_request (sendmailproxy/api.py)", "finish_request (sendmailproxy/api.py)",
         "end_request (sendmailproxy/api.py)"), ("(logging/",)),
    "prometheus_client: the counters": (("(prometheus_client/",), ()),
    "gunicorn outside the app (HTTP parsing, the thread pool)": (("(gunicorn/",), ("Flask.__call__ (",)),
}


# Whose code each sample is running: the innermost frame in one of these places (first match wins for a frame)
# owns it, so the standard library's frames count for the package that called them; the rows add up to 100%.
OWNERS: dict[str, tuple[str, ...]] = {
    "logging: the JSON log lines": ("(logging/", "(pythonjsonlogger/", "(sendmailproxy/logconfig.py)"),
    "requests, urllib3 and http.client: the provider call": ("(requests/", "(urllib3/", "(http/client.py)"),
    "validating the message: marshmallow and our schema": ("(marshmallow/", "(sendmailproxy/schema"),
    "prometheus_client: the counters": ("(prometheus_client/",),
    "our own code (sendmailproxy/)": ("(sendmailproxy/", "(bench/baselines/"),
    "Flask and werkzeug": ("(flask/", "(werkzeug/"),
    "gunicorn: HTTP parsing, the thread pool": ("(gunicorn/",),
}
OTHER = "the rest (threads, the interpreter)"


def record(server, target, connections: int, seconds: float, folded: Path) -> float:
    """py-spy every worker of `server` (GIL holders only) while wrk loads `target`; wrk's req/s."""
    sampler = subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(server.process.pid), "--subprocesses", "--gil", "--rate", "200",
         "--duration", f"{seconds:g}", "--format", "raw", "--output", str(folded)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result, _ = run_wrk(target, connections, seconds + 1)
        sampler.wait(seconds + 30)
    finally:
        if sampler.poll() is None:
            sampler.kill()
            sampler.wait()
    return result.rps


def shares(folded: str) -> dict[str, float]:
    """Each SHARES row's fraction of the samples in py-spy's raw (folded) output; empty without samples."""
    counts, total = collections.Counter(), 0
    for frames, count in _stacks(folded):
        total += count
        for row, (anywhere, nowhere) in SHARES.items():
            if _on_stack(frames, anywhere) and not _on_stack(frames, nowhere):
                counts[row] += count
    return {row: counts[row] / total for row in SHARES} if total else {}


def samples(folded: str) -> int:
    """How many samples py-spy took: a share of a few hundred moves by several points between runs."""
    return sum(count for _, count in _stacks(folded))


def owners(folded: str) -> dict[str, float]:
    """Each OWNERS row's fraction of the samples, by the innermost frame it claims, and OTHER's; empty without
    samples."""
    counts, total = collections.Counter(), 0
    for frames, count in _stacks(folded):
        total += count
        counts[_owner(frames)] += count
    return {row: counts[row] / total for row in [*OWNERS, OTHER]} if total else {}


def _owner(frames: list[str]) -> str:
    for frame in reversed(frames):
        for row, places in OWNERS.items():
            if any(place in frame for place in places):
                return row
    return OTHER


def _on_stack(frames: list[str], needles: tuple[str, ...]) -> bool:
    return any(needle in frame for frame in frames for needle in needles)


def _stacks(folded: str):
    """(frames, count) per line of py-spy's raw output, frames as `function (file)` without line numbers."""
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_name(frame) for frame in stack.split(";") if _FRAME.match(frame)]
        if frames and count.isdigit():
            yield frames, int(count)


def profile_all(settings, out: Path, seconds: float = 10) -> None:
    """`--profile`: folded stacks per server and load in `out`, and where the time goes, printed."""
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
                rps = record(server, email_target(server), connections, seconds, folded)
                fake.control.clear()
                print(f"\n=== {name}, provider latency {latency_ms} ms, {connections} connections: "
                      f"{rps:.0f} req/s under the profiler; {folded}")
                print(summarize(folded.read_text()))


def summarize(folded: str, top: int = 25) -> str:
    """Self and inclusive shares of the GIL-holding samples, by function and by package, and SHARES."""
    own, inclusive, packages = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for frames, count in _stacks(folded):
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        for package in {_package(frame) for frame in frames}:
            packages[package] += count
    if not total:
        return "(no samples)"

    def table(title, counter, n):
        rows = [f"  {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n)]
        return "\n".join([f"{title} ({total} samples)", *rows])

    leads = "\n".join(["leads", *(f"  {100 * share:5.1f}%  {row}" for row, share in shares(folded).items())])
    whose = "\n".join(["whose code", *(f"  {100 * share:5.1f}%  {row}" for row, share in owners(folded).items())])
    return "\n\n".join([table("self", own, top), table("inclusive", inclusive, 2 * top),
                        table("inclusive by package", packages, 20), leads, whose])


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match["file"]
    short = path.split("site-packages/")[-1].split("/lib/python3")[-1]
    return f"{match['function']} ({short.split('/main/')[-1]})"


def _package(name: str) -> str:
    path = name.rpartition("(")[2].rstrip(")")
    return path.split("/")[0] if "/" in path else path
