"""The results as the markdown tables of the README's performance section."""
from __future__ import annotations

from bench.measure import summary

LABELS = {
    "floor": "(a) floor: bare Flask, same gunicorn settings",
    "naive": "(b) naive: Flask + requests proxy to Mailgun",
    "service": "sendmailproxy",
    "service sync": "sendmailproxy, sync workers",
    "fake mailgun": "fake Mailgun alone (upstream ceiling)",
    "mailgun": "sendmailproxy, `SMSP_PROVIDERS=mailgun` (HTTP, keep-alive)",  # scenario 5, bench/smtp.py
    "smtp": "sendmailproxy, `SMSP_PROVIDERS=smtp` (a connection per thread, reused)",
    "smtp per message": "the same, a new connection (TCP, STARTTLS, AUTH) per message",
}


def render(results: dict) -> str:
    m = results["machine"]
    return "\n".join([
        "## Performance",
        "",
        f"Measured with `./bench/run` on {m['date']}: {m['cores']} cores (shared), Python {m['python']}, "
        f"gunicorn {m['gunicorn']}, {m['wrk']}. The service runs its defaults: {m['workers']} gthread workers "
        f"x {m['threads']} threads. Each cell is the median of {m['reps']} wrk runs of {m['seconds']:g} s with "
        "the servers interleaved (req/s range in brackets). wrk, the fake providers and every server share the "
        "machine's cores, so read the ratios rather than the absolute numbers. CPU ms / request is the server's "
        "own CPU time (master and workers) per answered request: it moves much less with machine noise than "
        f"req/s. Load average {m['load_at_start'][0]:g} at the start, {m.get('load_at_end', ['?'])[0]} at the end.",
        "",
        *_scenario1(results),
        *_scenario2(results),
        *_scenario3(results),
        *_memory(results),
    ])


def _cells(scenario: dict) -> tuple[list[str], dict[str, dict]]:
    stats = {name: summary(runs) for name, runs in scenario.items()}
    rows = ["| server | req/s | p50 ms | p99 ms | CPU ms / request | errors |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in stats.items():
        rows.append(f"| {LABELS.get(name, name)} | {s['rps']:.0f} ({s['rps_min']:.0f}-{s['rps_max']:.0f}) | "
                    f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['cpu_ms']:.2f} | {s['errors']} of {s['requests']} |")
    return rows, stats


def _ratios(rows: list[tuple[str, float, str]]) -> list[str]:
    lines = ["", "| ratio | value | target |", "|---|---:|---|"]
    for name, value, target in rows:
        lines.append(f"| {name} | {value:.2f} | {target} |")
    return lines + [""]


def _target(value: float, minimum: float) -> str:
    return f">= {minimum:g} {'met' if value >= minimum else '**missed**'}"


def _scenario1(results: dict) -> list[str]:
    rows, s = _cells(results["scenario1"])
    ratio = s["service"]["rps"] / s["naive"]["rps"]
    return [f"### 1. Provider latency 0 ms, {results['settings']['light_connections']} connections", "", *rows,
            *_ratios([("service / (b) naive, req/s", ratio, _target(ratio, 0.9)),
                      ("service / (a) floor, req/s", s["service"]["rps"] / s["floor"]["rps"], "(the framework's share)"),
                      ("(b) naive / service, CPU per request", s["naive"]["cpu_ms"] / s["service"]["cpu_ms"],
                       "(the same ratio, measured by CPU time)")])]


def _scenario2(results: dict) -> list[str]:
    m, connections = results["machine"], results["settings"]["heavy_connections"]
    rows, s = _cells(results["scenario2"])
    sync = results["scenario2_sync"]
    little = connections / (m["latency_ms"] / 1000)
    threads_bound = m["workers"] * m["threads"] / (m["latency_ms"] / 1000)
    sync_bound = m["workers"] / (m["latency_ms"] / 1000)
    cpu_bound = m["cores"] * 1000 / s["service"]["cpu_ms"]  # if wrk and the fake took no CPU at all
    ratio = s["service"]["rps"] / s["naive"]["rps"]
    return [f"### 2. Provider latency {m['latency_ms']} ms, {connections} connections", "", *rows,
            *_ratios([
                ("service / (b) naive, req/s", ratio, _target(ratio, 0.9)),
                (f"service / Little's-law bound ({connections} / {m['latency_ms'] / 1000:g} s = {little:.0f} req/s)",
                 s["service"]["rps"] / little, "(how much of the offered concurrency is served)"),
                ("(b) naive / Little's-law bound", s["naive"]["rps"] / little, ""),
                (f"service / thread bound ({m['workers']} x {m['threads']} threads / {m['latency_ms'] / 1000:g} s = "
                 f"{threads_bound:.0f} req/s)", s["service"]["rps"] / threads_bound, "(1.0: threads are the limit)"),
                ("fake Mailgun alone / Little's-law bound", s["fake mailgun"]["rps"] / little, "(upstream ceiling)"),
                (f"service / CPU bound ({m['cores']} cores / {s['service']['cpu_ms']:.2f} ms = "
                 f"{cpu_bound:.0f} req/s)", s["service"]["rps"] / cpu_bound, "(1.0: CPU is the limit)"),
                ("(b) naive / service, CPU per request", s["naive"]["cpu_ms"] / s["service"]["cpu_ms"], ""),
                *([] if "error" in sync else [
                    ("sync / gthread service", sync["rps"] / s["service"]["rps"], ""),
                    (f"sync / its bound ({m['workers']} workers / {m['latency_ms'] / 1000:g} s = "
                     f"{sync_bound:.0f} req/s)", sync["rps"] / sync_bound, "(why gthread)")]),
            ]),
            _sync_note(sync, m["workers"], connections), ""]


def _sync_note(sync: dict, workers: int, connections: int) -> str:
    """Scenario 2's sync comparison, or why there is none."""
    if "error" in sync:
        return f"The service on sync workers (`--worker-class sync`) did not start: `{sync['error']}`."
    return (f"The service on {workers} sync workers (`--worker-class sync`, one request at a time each) delivered "
            f"{sync['accepted']} messages in {sync['seconds']:.1f} s = {sync['rps']:.1f} req/s, counted at the fake "
            f"(wrk saw {sync['wrk']['requests']} answers: most of its {connections} connections wait longer than "
            "a run).")


def _seconds(value) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _scenario3(results: dict) -> list[str]:
    t, plan = results["timeline"]["summary"], results["timeline"]["plan"]
    share = t["secondary_share_during_fault"]
    return [
        f"### 3. Failover: Mailgun stopped at {plan['stop_at']:g} s, restarted at {plan['restart_at']:g} s", "",
        f"![failover timeline]({results['timeline']['png']})", "",
        f"{plan['threads']} keep-alive clients offering {plan['rate']:g} req/s in all (a send is skipped, not "
        "sent late, while its client still waits for an answer); the service's default SMSP_POLL_INTERVAL "
        "(5 s, jittered per worker), so the recovery delay is the real one.", "",
        "| measure | value |", "|---|---:|",
        f"| requests / errors / sends skipped | {t['requests']} / {t['errors']} / {t['skipped']} |",
        f"| errors while Mailgun was stopped | {t['errors_at_fault']} |",
        f"| share of successes from SendGrid while stopped | {'n/a' if share is None else f'{share:.1%}'} |",
        f"| first SendGrid success after the stop | {_seconds(t['first_secondary_after_fault_s'])} |",
        f"| first Mailgun success after the restart | {_seconds(t['first_primary_after_restart_s'])} |",
        f"| every answer from Mailgun again after the restart | {_seconds(t['all_primary_after_restart_s'])} |",
        f"| p99 latency over the whole run | {t['p99_ms']:.1f} ms |", "",
    ]


def _memory(results: dict) -> list[str]:
    lines = ["### 4. Memory (VmRSS, MiB)", "",
             "| server | when | master | each worker | sum |", "|---|---|---:|---:|---:|"]
    for name, states in results["memory"].items():
        for state, label in (("rest", "at rest, after start"), ("load", "peak under scenario 2")):
            if state in states:
                mem = states[state]
                workers = " / ".join(f"{w:.1f}" for w in mem["workers"])
                total = mem["master"] + sum(mem["workers"])
                lines.append(f"| {LABELS[name]} | {label} | {mem['master']:.1f} | {workers} | {total:.1f} |")
    return lines + ["", "Workers are forked from a preloaded master, so the sum counts shared pages more than once.", ""]
