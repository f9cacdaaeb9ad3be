"""wrk as a function: one bounded load run with bench/post.lua, and a pure parser for what wrk prints."""
from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

POST_LUA = Path(__file__).with_name("post.lua")
# wrk prints durations with these units (its stats.c format_time).
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk failed, or printed something we cannot read."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles and every kind of error it counted."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0  # wrk counts 3xx with 2xx as successes; the bench never expects a 3xx
    socket_errors: int = 0  # connect + read + write + timeout
    timeouts: int = 0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Read `wrk --latency` output; raise WrkError when a required line is missing."""
    total = re.search(rf"^\s*(\d+) requests in {_DURATION}", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    percentiles = {int(p): _ms(v, u) for p, v, u in re.findall(rf"^\s+(\d+)%\s+{_DURATION}\s*$", text, re.M)}
    if not (total and rps and {50, 99} <= set(percentiles)):
        raise WrkError(f"cannot read wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_counts = [int(n) for n in sockets.groups()] if sockets else [0, 0, 0, 0]
    return WrkResult(
        requests=int(total[1]), seconds=_ms(total[2], total[3]) / 1000, rps=float(rps[1]),
        p50_ms=percentiles[50], p99_ms=percentiles[99],
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(socket_counts), timeouts=socket_counts[3],
    )


@dataclass(frozen=True)
class Target:
    """What wrk sends: one POST to `url` with `body` and `headers`, plus `unique_header` new in every request."""

    url: str
    body: str
    headers: dict[str, str]
    unique_header: str | None = None  # e.g. an Idempotency-Key
    delay_ms: float | None = None  # each connection's pause before each request: a paced load, not the most it takes


def run_wrk(target: Target, connections: int, seconds: float, *, threads: int = 2,
            timeout_s: float = 10) -> tuple[WrkResult, str]:
    """Load `target` for `seconds` with `connections` keep-alive connections; the result and wrk's text."""
    argv = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds:g}s",
            f"--timeout={timeout_s:g}s", "--latency", "-s", str(POST_LUA), target.url]
    env = {**os.environ, "BENCH_BODY": target.body,
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in target.headers.items())}
    if target.unique_header:
        env.update(BENCH_UNIQUE_HEADER=target.unique_header, BENCH_UNIQUE_PREFIX=uuid.uuid4().hex)
    if target.delay_ms is not None:
        env.update(BENCH_DELAY_MS=f"{target.delay_ms:g}")
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(argv)}") from exc
    if done.returncode:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout), done.stdout
