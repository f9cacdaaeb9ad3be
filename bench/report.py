"""The results as markdown: bench/RESULTS.md in full, and the summary between the README's bench markers."""
from __future__ import annotations

import operator

from bench.measure import summary as cell_summary

LABELS = {
    "floor": "(a) floor: bare Flask, same gunicorn settings",
    "naive": "(b) naive: Flask + requests proxy to Mailgun",
    "before": "sendmailproxy before",
    "service": "sendmailproxy",
    "service sync": "sendmailproxy, sync workers",
    "fake mailgun": "fake Mailgun alone (upstream ceiling)",
    "mailgun": "sendmailproxy, `SMSP_PROVIDERS=mailgun` (HTTP, keep-alive)",  # scenario 6, bench/smtp.py
    "smtp": "sendmailproxy, `SMSP_PROVIDERS=smtp` (a connection per thread, reused)",
    "smtp per message": "the same, a new connection (TCP, STARTTLS, AUTH) per message",
}
README_BEGIN, README_END = "<!-- ./bench/run writes from here -->", "<!-- to here -->"
NOTES_HEADING = "### Notes (by hand; ./bench/run keeps this section)"


def render(results: dict) -> str:
    """bench/RESULTS.md: the summary, then every scenario's tables."""
    return "\n".join(["## Performance", "", summary(results), *_scenario1(results), *_scenario2(results),
                      *_scenario3(results), *_scenario4(results), *_memory(results)])


def summary(results: dict) -> str:
    """How it was measured, the targets (before and after when measured), and where the CPU goes."""
    return "\n".join([_machine(results), "", *_targets(results), *_profile(results)])


def _machine(results: dict) -> str:
    m = results["machine"]
    return (
        f"Measured with `{results.get('command', './bench/run')}` on {m['date']}: {m['cores']} cores (shared), "
        f"Python {m['python']}, gunicorn {m['gunicorn']}, {m['wrk']}. The service runs its defaults: "
        f"{m['workers']} gthread workers x {m['threads']} threads. Each cell is the median of {m['reps']} wrk runs "
        f"of {m['seconds']:g} s with the servers interleaved (req/s range in brackets). wrk, the fake providers and "
        "every server share the machine's cores, so read the ratios rather than the absolute numbers. CPU ms / "
        "request is the server's own CPU time (master and workers) per answered request: it moves much less with "
        f"machine noise than req/s. Load average {m['load_at_start'][0]:g} at the start, "
        f"{m.get('load_at_end', ['?'])[0]} at the end."
        + (f" \"Before\" is the service as of commit `{results['before']}`, run from its own tree in the same run."
           if results.get("before") else ""))


def _stats(results: dict, scenario: str) -> dict[str, dict]:
    return {name: cell_summary(runs) for name, runs in results[scenario].items()}


# Issue 22's goals, each as (comparison, bound) of one figure of the service in this run.
GOALS = {"rps": (operator.ge, 1.0), "cpu": (operator.le, 1.0), "p50_added_ms": (operator.le, 0.2),
         "key, SQLite": (operator.ge, 0.85), "key, Redis": (operator.ge, 0.9)}


def _targets(results: dict) -> list[str]:
    """Issue 22's goals for the service, and the earlier commit's figures when there was one."""
    s1, s2, s3 = (_stats(results, f"scenario{n}") for n in (1, 2, 3))
    m, c, before = results["machine"], results["settings"], results.get("before")
    servers = ["before", "service"] if before else ["service"]

    def versus_naive(stats, key):
        return [stats[name][key] / stats["naive"][key] for name in servers]

    rows = [  # name, a value per server, the goal's key in GOALS, the goal in words
        (f"1: {c['light_connections']} connections, 0 ms provider: req/s / naive's", versus_naive(s1, "rps"),
         "rps", "at least 1.0 (moonshot 1.2)"),
        (f"2: {c['heavy_connections']} connections, {m['latency_ms']} ms provider: req/s / naive's",
         versus_naive(s2, "rps"), "rps", "at least 1.0 (moonshot 1.2)"),
        ("1: CPU per request / naive's", versus_naive(s1, "cpu_ms"), "cpu", "at most 1.0"),
        ("2: CPU per request / naive's", versus_naive(s2, "cpu_ms"), "cpu", "at most 1.0"),
        (f"3: {c['few_connections']} connections, 0 ms provider: p50 - naive's p50 (ms)",
         [s3[name]["p50_ms"] - s3["naive"]["p50_ms"] for name in servers], "p50_added_ms", "at most 0.2"),
    ]
    if "keys" in results:  # the keyed requests ran with the service of this tree only
        keys = {name: cell_summary(runs) for name, runs in results["keys"]["0"]["runs"].items()}
        rows += [(f"keyed / unkeyed req/s, {store}, 0 ms provider", [None] * (len(servers) - 1) +
                  [keys[f"key, {store}"]["rps"] / keys["no key"]["rps"]], f"key, {store}",
                  f"at least {GOALS[f'key, {store}'][1]:g}") for store in ("SQLite", "Redis")]
    lines = ["### Goals (issue 22)", "",
             f"| scenario: measure | {f'before (`{before}`) | ' if before else ''}now | goal |",
             f"|---|{'---:|' if before else ''}---:|---|"]
    for name, values, goal, words in rows:
        meets, bound = GOALS[goal]
        cells = " | ".join("-" if value is None else f"{value:.2f}" for value in values)
        lines.append(f"| {name} | {cells} | {words}: {'met' if meets(values[-1], bound) else '**missed**'} |")
    return lines + [""]


def _profile(results: dict) -> list[str]:
    profiles = results.get("profile") or {}
    names = [name for name in ("naive", "before", "service") if name in profiles]
    rows = list(next(iter(profiles.values()), {}).get("shares", {}))
    if not rows:
        return []
    lines = [f"### Where a worker's CPU goes (py-spy under scenario 1's load, {results['settings']['profile_s']:g} s "
             "each)", "",
             "Share of the samples of threads holding the GIL with this code on the stack; rows overlap.", "",
             *_profile_table(profiles, names, "shares", rows)]
    owned = list(next(iter(profiles.values()), {}).get("owners", {}))
    if owned:
        lines += ["", "The same samples by whose code was running: each belongs to the innermost frame of one of these "
                  "(the standard library's frames count for their caller), so the rows add up to 100%.", "",
                  *_profile_table(profiles, names, "owners", owned)]
    return lines + [""]


def _profile_table(profiles: dict, names: list[str], kind: str, rows: list[str]) -> list[str]:
    heads = [LABELS[name] + (f" ({profiles[name]['samples']} samples)" if "samples" in profiles[name] else "")
             for name in names]
    lines = ["| code | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(names)]
    for row in rows:
        cells = [profiles[name].get(kind, {}).get(row) for name in names]
        lines.append(f"| {row} | " + " | ".join("-" if c is None else f"{100 * c:.1f}%" for c in cells) + " |")
    return lines


def _cells(scenario: dict) -> tuple[list[str], dict[str, dict]]:
    stats = {name: cell_summary(runs) for name, runs in scenario.items()}
    rows = ["| server | req/s | p50 ms | p99 ms | CPU ms / request | errors |", "|---|---:|---:|---:|---:|---:|"]
    for name, s in stats.items():
        rows.append(f"| {LABELS.get(name, name)} | {s['rps']:.0f} ({s['rps_min']:.0f}-{s['rps_max']:.0f}) | "
                    f"{s['p50_ms']:.2f} | {s['p99_ms']:.1f} | {s['cpu_ms']:.2f} | {s['errors']} of {s['requests']} |")
    return rows, stats


def _ratios(rows: list[tuple[str, float, str]]) -> list[str]:
    lines = ["", "| ratio | value | note |", "|---|---:|---|"]
    for name, value, note in rows:
        lines.append(f"| {name} | {value:.2f} | {note} |")
    return lines + [""]


def _scenario1(results: dict) -> list[str]:
    rows, s = _cells(results["scenario1"])
    return [f"### 1. Provider latency 0 ms, {results['settings']['light_connections']} connections", "", *rows,
            *_ratios([("service / (b) naive, req/s", s["service"]["rps"] / s["naive"]["rps"], ""),
                      ("service / (a) floor, req/s", s["service"]["rps"] / s["floor"]["rps"], "(the framework's share)"),
                      ("service / (b) naive, CPU per request", s["service"]["cpu_ms"] / s["naive"]["cpu_ms"], "")])]


def _scenario2(results: dict) -> list[str]:
    m, connections = results["machine"], results["settings"]["heavy_connections"]
    rows, s = _cells(results["scenario2"])
    sync = results["scenario2_sync"]
    little = connections / (m["latency_ms"] / 1000)
    threads_bound = m["workers"] * m["threads"] / (m["latency_ms"] / 1000)
    sync_bound = m["workers"] / (m["latency_ms"] / 1000)
    cpu_bound = m["cores"] * 1000 / s["service"]["cpu_ms"]  # if wrk and the fake took no CPU at all
    return [f"### 2. Provider latency {m['latency_ms']} ms, {connections} connections", "", *rows,
            *_ratios([
                ("service / (b) naive, req/s", s["service"]["rps"] / s["naive"]["rps"], ""),
                (f"service / Little's-law bound ({connections} / {m['latency_ms'] / 1000:g} s = {little:.0f} req/s)",
                 s["service"]["rps"] / little, "(how much of the offered concurrency is served)"),
                ("(b) naive / Little's-law bound", s["naive"]["rps"] / little, ""),
                (f"service / thread bound ({m['workers']} x {m['threads']} threads / {m['latency_ms'] / 1000:g} s = "
                 f"{threads_bound:.0f} req/s)", s["service"]["rps"] / threads_bound, "(1.0: threads are the limit)"),
                ("fake Mailgun alone / Little's-law bound", s["fake mailgun"]["rps"] / little, "(upstream ceiling)"),
                (f"service / CPU bound ({m['cores']} cores / {s['service']['cpu_ms']:.2f} ms = "
                 f"{cpu_bound:.0f} req/s)", s["service"]["rps"] / cpu_bound, "(1.0: CPU is the limit)"),
                ("service / (b) naive, CPU per request", s["service"]["cpu_ms"] / s["naive"]["cpu_ms"], ""),
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


def _scenario3(results: dict) -> list[str]:
    rows, s = _cells(results["scenario3"])
    return [f"### 3. Light load: provider latency 0 ms, {results['settings']['few_connections']} connections", "",
            "Nothing queues, so p50 is what each proxy adds to the provider's own time.", "", *rows,
            *_ratios([("service p50 - (b) naive p50, ms", s["service"]["p50_ms"] - s["naive"]["p50_ms"], ""),
                      ("service / (b) naive, CPU per request", s["service"]["cpu_ms"] / s["naive"]["cpu_ms"], "")])]


def _seconds(value) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _scenario4(results: dict) -> list[str]:
    t, plan = results["timeline"]["summary"], results["timeline"]["plan"]
    share = t["secondary_share_during_fault"]
    return [
        f"### 4. Failover: Mailgun stopped at {plan['stop_at']:g} s, restarted at {plan['restart_at']:g} s", "",
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
    lines = ["### 5. Memory (VmRSS, MiB)", "",
             "| server | when | master | each worker | sum |", "|---|---|---:|---:|---:|"]
    for name, states in results["memory"].items():
        for state, label in (("rest", "at rest, after start"), ("load", "peak under scenario 2")):
            if state in states:
                mem = states[state]
                workers = " / ".join(f"{w:.1f}" for w in mem["workers"])
                total = mem["master"] + sum(mem["workers"])
                lines.append(f"| {LABELS[name]} | {label} | {mem['master']:.1f} | {workers} | {total:.1f} |")
    return lines + ["", "Workers are forked from a preloaded master, so the sum counts shared pages more than once.", ""]

