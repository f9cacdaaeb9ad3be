"""Scenario 3: steady load while the primary provider stops and comes back; per-request records and the plot."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.servers import MESSAGE
from testkit.harness import API_KEY

BUCKET_S = 0.25


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent (s from the start), how long it took, its status and provider."""

    sent: float
    seconds: float
    status: int  # 0: no HTTP answer
    provider: str | None


@dataclass(frozen=True)
class Plan:
    rate: float  # requests per second, all client threads together
    threads: int
    stop_at: float  # primary stopped (s from the start)
    restart_at: float
    duration: float


def drive(url: str, plan: Plan, stop_primary, restart_primary) -> tuple[list[Sample], int]:
    """Send at `plan.rate` from keep-alive clients, calling the fault switches at their times.

    The samples, and how many sends were skipped because their client was still waiting for an answer
    (skipping, not bunching up late sends, keeps the offered load steady).
    """
    samples: list[Sample] = []
    skipped = [0] * plan.threads
    start = time.monotonic() + 0.2
    total = int(plan.rate * plan.duration)
    slack = plan.threads / plan.rate  # one turn of this client

    def client(first: int) -> None:
        with requests.Session() as session:
            for index in range(first, total, plan.threads):
                delay = start + index / plan.rate - time.monotonic()
                if delay < -slack:
                    skipped[first] += 1
                    continue
                time.sleep(max(0.0, delay))
                samples.append(_send(session, url, start))  # list.append is atomic

    clients = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(plan.threads)]
    for thread in clients:
        thread.start()
    for at, switch in ((plan.stop_at, stop_primary), (plan.restart_at, restart_primary)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        switch()
    for thread in clients:
        thread.join(plan.duration + 30)
    return sorted(samples, key=lambda s: s.sent), sum(skipped)


def _send(session: requests.Session, url: str, start: float) -> Sample:
    sent = time.monotonic()
    try:
        response = session.post(url, json=MESSAGE, headers={"X-API-KEY": API_KEY}, timeout=10)
        status = response.status_code
        provider = response.json().get("provider") if status == 200 else None
    except requests.RequestException:
        status, provider = 0, None
    return Sample(sent - start, time.monotonic() - sent, status, provider)


def buckets(samples: list[Sample], duration: float) -> list[dict[str, int]]:
    """Per 250 ms of send time: mailgun successes, sendgrid successes and errors."""
    counts = [{"mailgun": 0, "sendgrid": 0, "error": 0} for _ in range(math.ceil(duration / BUCKET_S))]
    for sample in samples:
        kind = sample.provider if sample.status == 200 and sample.provider in ("mailgun", "sendgrid") else "error"
        if 0 <= sample.sent < len(counts) * BUCKET_S:
            counts[int(sample.sent / BUCKET_S)][kind] += 1
    return counts


def summarize(samples: list[Sample], plan: Plan, skipped: int) -> dict:
    """The numbers the picture shows: errors, and how long each switch took to show in the answers."""
    def first(condition, after: float) -> float | None:
        return next((s.sent - after for s in samples if s.sent >= after and condition(s)), None)

    ok = [s for s in samples if s.status == 200]
    during = [s for s in ok if plan.stop_at <= s.sent < plan.restart_at]
    restored = _all_primary_since(samples, plan.restart_at)
    return {
        "requests": len(samples),
        "skipped": skipped,
        "errors": len(samples) - len(ok),
        "error_samples": [[round(s.sent, 3), s.status] for s in samples if s.status != 200][:50],
        "errors_at_fault": sum(1 for s in samples if s.status != 200 and plan.stop_at <= s.sent < plan.restart_at),
        "secondary_share_during_fault": (sum(s.provider == "sendgrid" for s in during) / len(during)) if during else None,
        "first_secondary_after_fault_s": first(lambda s: s.provider == "sendgrid", plan.stop_at),
        "first_primary_after_restart_s": first(lambda s: s.provider == "mailgun", plan.restart_at),
        "all_primary_after_restart_s": None if restored is None else restored - plan.restart_at,
        "p99_ms": sorted(s.seconds for s in samples)[int(0.99 * (len(samples) - 1))] * 1000 if samples else None,
    }


def _all_primary_since(samples: list[Sample], after: float) -> float | None:
    """The send time from which every answer came from the primary again (None if it never did)."""
    since = None
    for sample in samples:
        if sample.sent < after:
            continue
        if sample.provider == "mailgun":
            since = sample.sent if since is None else since
        else:
            since = None
    return since


def plot(samples: list[Sample], plan: Plan, path: Path, title: str) -> None:
    """Stacked successes per provider and errors per 250 ms, over p50/max latency, with the fault marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    counts = buckets(samples, plan.duration)
    times = [i * BUCKET_S for i in range(len(counts))]
    per_s = 1 / BUCKET_S
    mailgun = [c["mailgun"] * per_s for c in counts]
    sendgrid = [c["sendgrid"] * per_s for c in counts]
    errors = [c["error"] * per_s for c in counts]
    figure, (rates, latency) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                            gridspec_kw={"height_ratios": [2, 1]})
    bar = dict(width=BUCKET_S, align="edge")
    rates.bar(times, mailgun, color="#1f77b4", label="mailgun 200", **bar)
    rates.bar(times, sendgrid, bottom=mailgun, color="#2ca02c", label="sendgrid 200", **bar)
    rates.bar(times, errors, bottom=[m + s for m, s in zip(mailgun, sendgrid)], color="#d62728",
              label="error", **bar)
    rates.set_ylabel("responses/s (by send time)")
    rates.set_title(title)
    p50, worst = zip(*latency_by_bucket(samples, len(counts)))
    latency.plot([t + BUCKET_S / 2 for t in times], p50, color="#444444", label="p50")
    latency.plot([t + BUCKET_S / 2 for t in times], worst, color="#ff7f0e", label="max")
    latency.set_yscale("log")
    latency.set_ylim(top=latency.get_ylim()[1] * 5)  # room for the legend above the lines
    latency.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    # Minor ticks fall on 2..9 x 10^n; label only 2 and 5 so a narrow range still has numbers but no clutter.
    latency.yaxis.set_minor_formatter(
        matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else ""))
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("seconds since start")
    for axis in (rates, latency):
        axis.axvline(plan.stop_at, color="black", linestyle="--")
        axis.axvline(plan.restart_at, color="black", linestyle=":")
    rates.set_ylim(0, 1.45 * max([m + s + e for m, s, e in zip(mailgun, sendgrid, errors)] + [1]))
    for at, label in ((plan.stop_at, "mailgun stopped"), (plan.restart_at, "mailgun restarted")):
        rates.text(at, 0.84, f" {label}", va="top", transform=rates.get_xaxis_transform())
    rates.legend(loc="upper right", ncol=3)
    latency.legend(loc="upper right", ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def latency_by_bucket(samples: list[Sample], count: int) -> list[tuple[float, float]]:
    """(p50, max) latency in ms per bucket; NaN where a bucket is empty."""
    grouped: list[list[float]] = [[] for _ in range(count)]
    for sample in samples:
        if 0 <= sample.sent < count * BUCKET_S:
            grouped[int(sample.sent / BUCKET_S)].append(sample.seconds * 1000)
    return [(sorted(g)[len(g) // 2], max(g)) if g else (float("nan"), float("nan")) for g in grouped]
