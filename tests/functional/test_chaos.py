"""Chaos: 16 keep-alive clients against 3 gunicorn workers while the primary goes through every fault and back.

Four runs: Mailgun primary with SendGrid behind it (every generic fault), then SES primary with Postmark behind
it and Postmark primary with SES behind it (their own account errors and answers, e.g. Postmark's 503
maintenance, which is safe to fail over, unlike its 500), and an SMTP relay primary with SendGrid behind it,
the relay killed mid-load (refused connections, and every open one reset, idle or mid-transaction) and restarted.

Every message carries a unique subject and X-Chaos-Id header; afterwards the fakes' records and the clients'
answers are checked against the promises of README.md: nothing lost, nothing doubled, no probe delivered,
errors only where the taxonomy allows them and never more than the requests then in flight, and every circuit
closed again, with traffic back on the primary, after each fault.
"""
from __future__ import annotations

import bisect
import collections
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from testkit.polling import wait_until
from tests.api.spec_check import documented_response, validate

pytestmark = pytest.mark.functional

WORKERS, THREADS, CLIENTS = 3, 8, 16
POLL_INTERVAL, PROVIDER_TIMEOUT = 0.5, 1.0
POLL_MAX_INTERVAL = 1.0  # credentials and account errors are probed this often: recovery within a phase
FAULT_SECONDS = 2.0  # each fault phase
SETTLE_SECONDS = 1.0  # ok traffic after every circuit has closed again, before the next fault
SETTLE_REQUESTS = 30  # and at least this many answers to requests sent after that (a busy machine stalls)
RECOVERY_TIMEOUT = 15  # a probe is due within 1.25 poll intervals; a hanging probe adds a timeout
MAX_REQUESTS_PER_CLIENT = 5000
CLIENT_WALL_CLOCK = 120  # clients stop by themselves even if the test body dies
REQUEST_TIMEOUT = PROVIDER_TIMEOUT * 2 + 10  # the service answers within two provider calls

NOT_ACCEPTED, AMBIGUOUS, BENIGN, OK = "not accepted", "ambiguous", "benign", "ok"


@dataclass(frozen=True)
class Fault:
    name: str
    mode: str
    params: dict
    kind: str
    error_status: int | None = None  # what an ambiguous fault costs the requests it catches


FAULTS = [
    Fault("stopped", "stopped", {}, NOT_ACCEPTED),
    Fault("429", "status", {"status": 429, "retry_after_s": 1}, NOT_ACCEPTED),
    Fault("401", "status", {"status": 401}, NOT_ACCEPTED),
    Fault("503", "status", {"status": 503}, AMBIGUOUS, 502),
    Fault("hang", "hang", {}, AMBIGUOUS, 504),
    Fault("slow", "ok", {"latency_ms": 300}, BENIGN),  # well below PROVIDER_TIMEOUT: nothing may trip
    Fault("reset", "reset", {}, AMBIGUOUS, 502),
    Fault("malformed", "malformed", {}, AMBIGUOUS, 502),
]
HEALTHY = Fault("ok", "ok", {}, OK)


@dataclass(frozen=True)
class Run:
    """Which provider takes the faults, which one takes the traffic meanwhile, and the faults."""

    primary: str
    secondary: str
    faults: list[Fault]


RUNS = [
    Run("mailgun", "sendgrid", FAULTS),
    Run("ses", "postmark", [
        Fault("429", "status", {"status": 429}, NOT_ACCEPTED),
        Fault("suspended", "account", {"error": "suspended"}, NOT_ACCEPTED),
        Fault("500", "status", {"status": 500}, AMBIGUOUS, 502),
        Fault("malformed", "malformed", {}, AMBIGUOUS, 502),
    ]),
    Run("postmark", "ses", [
        Fault("no credit", "account", {"error": "not_allowed"}, NOT_ACCEPTED),
        Fault("503 maint.", "status", {"status": 503}, NOT_ACCEPTED),  # Postmark's JSON: nothing was taken
        Fault("500", "status", {"status": 500}, AMBIGUOUS, 502),
        Fault("reset", "reset", {}, AMBIGUOUS, 502),
    ]),
    Run("smtp", "sendgrid", [Fault("stopped", "stopped", {}, NOT_ACCEPTED)]),
]


@dataclass
class Call:
    """One client request and what came of it (times are time.monotonic())."""

    client: int
    chaos_id: str
    started: float
    ended: float = 0.0
    status: int | None = None
    body: dict | None = None
    transport_error: str | None = None


@dataclass
class Phase:
    """A fault, in force at the fake from some moment in [begin, active] to one in the next phase's."""

    fault: Fault
    begin: float
    active: float
    end_active: float = float("inf")  # the next phase's `active`
    next_begin: float = float("inf")
    recovered_at: float | None = None  # every worker's circuit closed again (ok phases)

    def may_have_met(self, call: Call) -> bool:
        return call.started < self.end_active and call.ended > self.begin

    def in_flight_at_switch(self, call: Call) -> bool:
        return call.started < self.active and call.ended > self.begin


class Clients:
    """CLIENTS threads, each with its own keep-alive session, sending tagged messages until stopped."""

    def __init__(self, service):
        self.service = service
        self.calls: list[list[Call]] = [[] for _ in range(CLIENTS)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def __enter__(self) -> "Clients":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(REQUEST_TIMEOUT + 10)
        assert not any(t.is_alive() for t in self.threads), "a client thread did not stop"

    def _run(self, client: int) -> None:
        deadline = time.monotonic() + CLIENT_WALL_CLOCK
        with requests.Session() as session:
            while (not self.stop.is_set() and time.monotonic() < deadline
                   and len(self.calls[client]) < MAX_REQUESTS_PER_CLIENT):
                chaos_id = uuid.uuid4().hex
                call = Call(client, chaos_id, time.monotonic())
                try:
                    tags = {"subject": f"chaos-{chaos_id}", "headers": {"X-Chaos-Id": chaos_id}}
                    response = self.service.send(session, timeout=REQUEST_TIMEOUT, **tags)
                    call.status = response.status_code
                    call.body = response.json()
                except (requests.RequestException, ValueError) as error:
                    call.transport_error = repr(error)
                call.ended = time.monotonic()
                self.calls[client].append(call)

    def answered_since(self, moment: float) -> int:
        return sum(call.started > moment for calls in self.calls for call in calls[-SETTLE_REQUESTS:])

    def all_calls(self) -> list[Call]:
        return sorted((call for calls in self.calls for call in calls), key=lambda call: call.started)


def switch(fake, phases: list[Phase], fault: Fault, primary: str) -> Phase:
    begin = time.monotonic()
    fake.control.set_fault(primary, fault.mode, **fault.params)
    phase = Phase(fault, begin, time.monotonic())
    if phases:
        phases[-1].end_active, phases[-1].next_begin = phase.active, phase.begin
    phases.append(phase)
    return phase


def warm_up(service, fake, primary: str) -> None:
    """Pay each worker's first-request costs (lazy imports, new pools) before the clock starts."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda _: service.send(timeout=REQUEST_TIMEOUT), range(4 * CLIENTS)))
    wait_until_recovered(service, Phase(HEALTHY, 0, 0), primary)
    fake.control.clear()


def wait_until_recovered(service, phase: Phase, primary: str) -> None:
    """Every worker's primary circuit closed and its prober alive; when, is the fault's recovery time."""
    def recovered():
        health = service.health_of_every_worker()
        return all(h["circuits"][primary]["state"] == "closed" and h["prober"]["alive"]
                   for h in health.values())

    wait_until(recovered, "every worker's circuit to close after the fault", RECOVERY_TIMEOUT, 0.05)
    phase.recovered_at = time.monotonic()


def validate_error_body(status: int, body: dict) -> None:
    """The body is what swagger.yaml documents for POST /email answering `status`."""
    validate(body, documented_response("/email", "POST", status)["content"]["application/json"]["schema"])


@pytest.mark.parametrize("run", RUNS, ids=[run.primary for run in RUNS])
def test_chaos_nothing_lost_nothing_doubled_errors_bounded_and_recovery(start_service, clean_fake, tmp_path, run):
    fake = clean_fake
    service = start_service(WEB_CONCURRENCY=WORKERS, SMSP_THREADS=THREADS, SMSP_POLL_INTERVAL=POLL_INTERVAL,
                            SMSP_POLL_MAX_INTERVAL=POLL_MAX_INTERVAL, SMSP_PROVIDER_TIMEOUT=PROVIDER_TIMEOUT,
                            SMSP_PROVIDERS=f"{run.primary},{run.secondary}")
    warm_up(service, fake, run.primary)
    phases: list[Phase] = []
    started = time.monotonic()
    with Clients(service) as clients:
        switch(fake, phases, HEALTHY, run.primary)
        time.sleep(SETTLE_SECONDS)
        for fault in run.faults:
            switch(fake, phases, fault, run.primary)
            time.sleep(FAULT_SECONDS)
            healthy = switch(fake, phases, HEALTHY, run.primary)
            wait_until_recovered(service, healthy, run.primary)
            time.sleep(SETTLE_SECONDS)
            wait_until(lambda: clients.answered_since(healthy.recovered_at) >= SETTLE_REQUESTS,
                       "answers to requests sent after every circuit closed", 15)
    wall = time.monotonic() - started
    calls = clients.all_calls()
    records = fake.control.messages(probes=False)
    probes = fake.control.messages(probes=True)
    figures = analyse(calls, records, probes, phases, run.primary)
    figures["wall_seconds"] = round(wall, 1)
    report(figures, tmp_path, run)
    check(figures, run)


def recovery_seconds(phases: list[Phase], index: int) -> float | None:
    """For a fault phase: from the moment the fault ended to every worker's circuit closed again."""
    after = phases[index + 1] if index + 1 < len(phases) else None
    if phases[index].fault.kind == OK or after is None or after.recovered_at is None:
        return None
    return round(after.recovered_at - after.active, 2)


def analyse(calls: list[Call], records: list[dict], probes: list[dict], phases: list[Phase], primary: str) -> dict:
    """Everything the invariants need, per phase and in total, as plain data (printed and saved as JSON)."""
    by_id = collections.defaultdict(list)
    for record in records:
        by_id[record["headers"].get("X-Chaos-Id")].append(record)
    call_ids = {call.chaos_id for call in calls}
    problems: list[str] = []
    phase_rows = [dict(phase=p.fault.name, kind=p.fault.kind, requests=0, primary=0, secondary=0,
                       errors=collections.Counter(), lost=0, doubled=0, errors_in_flight_at_switch=0,
                       errors_per_client=collections.Counter(),
                       after_recovery=0, after_recovery_not_primary=0,
                       recovered=p.recovered_at is not None, recovery_s=recovery_seconds(phases, i))
                  for i, p in enumerate(phases)]

    begins = [phase.begin for phase in phases]
    for call in calls:
        start_phase = max(0, bisect.bisect_right(begins, call.started) - 1)  # the phase it started in
        row = phase_rows[start_phase]
        row["requests"] += 1
        matches = by_id.get(call.chaos_id, [])
        if len(matches) > 1:
            row["doubled"] += 1
        if call.status == 200:
            provider, message_id = call.body["provider"], call.body["id"]
            row["primary" if provider == primary else "secondary"] += 1
            if [(m["provider"], m["id"], m["subject"]) for m in matches] != [(provider, message_id,
                                                                              f"chaos-{call.chaos_id}")]:
                row["lost"] += 1
            # Started once every circuit had closed, and over before the next fault could meet it.
            recovered_at = phases[start_phase].recovered_at
            next_begin = phases[start_phase].next_begin
            if recovered_at is not None and recovered_at < call.started and call.ended < next_begin:
                row["after_recovery"] += 1
                row["after_recovery_not_primary"] += provider != primary
            continue
        # An error: which fault could it have met? Exactly one fault phase may overlap it.
        met = [i for i, p in enumerate(phases) if p.fault.kind != OK and p.may_have_met(call)]
        code = call.transport_error and "transport" or str(call.status)
        if len(met) != 1:
            problems.append(f"{code} from a request that met {len(met)} faults: {call}")
            continue
        phase, fault_row = phases[met[0]], phase_rows[met[0]]
        fault_row["errors"][code] += 1
        fault_row["errors_per_client"][call.client] += 1
        fault_row["errors_in_flight_at_switch"] += phase.in_flight_at_switch(call)
        if call.transport_error is None:
            try:
                validate_error_body(call.status, call.body)
            except Exception as error:  # noqa: BLE001 - reported with the body that failed
                problems.append(f"{call.status} body {call.body} does not match swagger.yaml: {error}")
        if any(m["provider"] != primary for m in matches):
            problems.append(f"an error answer's message was delivered by another provider: {matches}")

    phantom = [r for r in records if r["headers"].get("X-Chaos-Id") not in call_ids]
    probe_as_mail = [r for r in records if r["subject"] == "sendmailproxy probe"
                     or "probe@example.com" in r["to"]]
    for row in phase_rows:
        row["errors"] = dict(row["errors"])
        row["max_errors_per_client"] = max(row.pop("errors_per_client").values(), default=0)
    return {
        "requests": len(calls),
        "ok_answers": sum(call.status == 200 for call in calls),
        "errors": dict(collections.Counter(str(c.status or "transport") for c in calls if c.status != 200)),
        "lost": sum(row["lost"] for row in phase_rows),
        "doubled": sum(len(ms) > 1 for ms in by_id.values()),
        "phantom": len(phantom),
        "probes_received": len(probes),
        "probes_delivered_as_mail": len(probe_as_mail),
        "phases": phase_rows,
        "problems": problems,
    }


def report(figures: dict, tmp_path, run: Run) -> None:
    (tmp_path / "chaos.json").write_text(json.dumps(figures, indent=2))
    lines = [f"\nchaos: {figures['requests']} requests in {figures['wall_seconds']} s, "
             f"{WORKERS} workers x {THREADS} threads, {CLIENTS} clients; "
             f"lost {figures['lost']}, doubled {figures['doubled']}, phantom {figures['phantom']}, "
             f"probes {figures['probes_received']} "
             f"(delivered as mail: {figures['probes_delivered_as_mail']})",
             f"{'phase':<10}{'requests':>9}{run.primary:>9}{run.secondary:>9}  {'errors':<16}{'in flight':>10}"
             f"{'max/client':>11}{'lost':>6}{'doubled':>8}{'recovery s':>11}{'then primary':>13}"]
    for row in figures["phases"]:
        errors = ", ".join(f"{code}x{n}" for code, n in sorted(row["errors"].items())) or "-"
        recovery = "-" if row["recovery_s"] is None else f"{row['recovery_s']:.2f}"
        primary = (f"{row['after_recovery'] - row['after_recovery_not_primary']}/{row['after_recovery']}"
                   if row["recovered"] else "-")
        lines.append(f"{row['phase']:<10}{row['requests']:>9}{row['primary']:>9}{row['secondary']:>9}  "
                     f"{errors:<16}{row['errors_in_flight_at_switch']:>10}{row['max_errors_per_client']:>11}"
                     f"{row['lost']:>6}{row['doubled']:>8}{recovery:>11}{primary:>13}")
    lines.append("in flight: errors of requests in flight as the fault switched on; max/client: most errors "
                 "of one client;\nrecovery s: fault end to every worker's circuit closed; then primary: "
                 f"answers naming {run.primary} / all answers, of requests sent after that")
    lines.append(f"(figures saved to {tmp_path / 'chaos.json'})")
    print("\n".join(lines))


def check(figures: dict, run: Run) -> None:
    assert figures["problems"] == []
    assert figures["lost"] == 0 and figures["doubled"] == 0 and figures["phantom"] == 0
    assert figures["probes_delivered_as_mail"] == 0
    assert set(figures["errors"]) <= {"502", "504"}, "only ambiguous failures may reach a client"
    faults = {fault.name: fault for fault in run.faults}
    for row in figures["phases"]:
        assert row["requests"] > 0, f"no traffic during {row['phase']}"
        fault = faults.get(row["phase"])
        if fault is None:  # an ok phase: traffic is back on the primary once every circuit has closed
            if row["recovered"]:
                assert row["after_recovery"] > 0 and row["after_recovery_not_primary"] == 0, row
            continue
        errors = sum(row["errors"].values())
        if fault.kind == BENIGN:
            assert errors == 0 and row["secondary"] == 0, f"answers below the timeout tripped a circuit: {row}"
        elif fault.name == "stopped":
            # A refused connection fails over within the request. Only a request already sent when the primary
            # stopped can lose its connection or its answer (ambiguous: 502, or 504 if nothing came back); an
            # SMTP transaction cut before its final dot fails over too.
            assert errors == row["errors_in_flight_at_switch"] and set(row["errors"]) <= {"502", "504"}, row
        elif fault.kind == NOT_ACCEPTED:
            # 429 and 401 are answers read per request: every one of them fails over in the same request.
            assert errors == 0, row
        else:
            assert set(row["errors"]) <= {str(fault.error_status)}, row
            # Each worker opens its circuit on its first ambiguous failure; only requests that had already
            # read CLOSED in that worker can still meet the fault, i.e. those in flight there at that moment:
            # at most THREADS per worker, and at most one per client per worker (a client has one request at
            # a time, and its next one in that worker sees OPEN). Probes fail during the fault, so no worker
            # closes and re-opens within the phase.
            assert errors <= WORKERS * min(THREADS, CLIENTS), row
            assert row["max_errors_per_client"] <= WORKERS, row
        if fault.kind in (NOT_ACCEPTED, AMBIGUOUS):
            assert row["secondary"] > 0, f"{fault.name}: nothing failed over"
