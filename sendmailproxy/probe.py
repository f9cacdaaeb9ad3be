"""The one probe thread per worker: it probes open circuits and is the only thing that closes them."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Sequence

from sendmailproxy import metrics
from sendmailproxy.circuits import Circuits
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider

log = logging.getLogger(__name__)

OPERATOR_MUST_ACT = ("probe failed: an operator must act (credentials, permissions or account state); "
                     "probing continues at most once per SMSP_POLL_MAX_INTERVAL")


class Prober:
    """Polls open circuits with each provider's no-delivery probe; restartable if it ever stops."""

    def __init__(self, circuits: Circuits, providers: Sequence[Provider], *, poll_interval: float,
                 clock: Callable[[], float] = time.monotonic):
        self.circuits = circuits
        self.providers = {provider.name: provider for provider in providers}
        self.clock = clock
        # Wake often enough to honour jittered due times. A round is at most one probe per provider, and a probe
        # takes no longer than a send (an SMTP probe waits on several commands): stale only past two such rounds.
        self.tick = min(1.0, poll_interval / 5)
        self.stale_after = 2 * (self.tick + sum(provider.max_send_seconds for provider in providers)) + 1
        self.heartbeat: float | None = None
        self._thread: threading.Thread | None = None
        self._restart_lock = threading.Lock()  # taken only when the thread must be (re)started
        self._stop = threading.Event()

    def probe_due(self) -> None:
        """One round: probe every open circuit that is due, and record each result."""
        for circuit in self.circuits.due_probes():
            try:
                outcome = self.providers[circuit.provider].probe()
            except Exception as error:  # noqa: BLE001 - one broken probe must not starve the others
                log.exception("probe raised", extra={"provider": circuit.provider})
                # Counted as a failed probe, so the next one waits an interval instead of every tick.
                outcome = Outcome(OutcomeKind.NOT_ACCEPTED, reason=f"probe raised {type(error).__name__}")
            metrics.PROBES.labels(circuit.provider, outcome.kind.value).inc()
            self.circuits.record_probe(circuit, outcome)
            after = self.circuits[circuit.provider]
            next_probe_in = None if after.closed else round(after.next_probe_at - self.clock(), 1)
            log.log(_level(outcome), OPERATOR_MUST_ACT if outcome.needs_an_operator else "probe", extra={
                "provider": circuit.provider, "outcome": outcome.kind.value, "reason": outcome.reason or None,
                "generation": circuit.generation, "next_probe_in_s": next_probe_in})

    def heartbeat_age(self) -> float | None:
        return None if self.heartbeat is None else self.clock() - self.heartbeat

    def is_alive(self) -> bool:
        age = self.heartbeat_age()
        return bool(self._thread and self._thread.is_alive() and age is not None and age < self.stale_after)

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running or its heartbeat is stale. Cheap when alive."""
        if self.is_alive():
            return
        with self._restart_lock:
            if self.is_alive():
                return
            if self._thread is not None:
                log.error("probe thread was not running; restarting it",
                          extra={"heartbeat_age": self.heartbeat_age()})
            self._stop.clear()
            self.heartbeat = self.clock()
            # A restarted loop sees it was replaced and exits, so there is never more than one prober.
            self._thread = threading.Thread(target=self._run, name=f"prober-{os.getpid()}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        me = threading.current_thread()
        metrics.publish_circuits(self.circuits)  # this worker's gauges exist from its start
        while self._thread is me and not self._stop.is_set():
            self.heartbeat = self.clock()
            try:
                self.probe_due()
            except Exception:  # noqa: BLE001 - the prober must never die silently
                log.exception("probe round failed; continuing")
            self._stop.wait(self.tick)


def _level(outcome: Outcome) -> int:
    if outcome.kind is OutcomeKind.ACCEPTED:
        return logging.INFO
    if outcome.kind is OutcomeKind.REJECTED or outcome.needs_an_operator:
        # A rejected probe (a bad SMSP_POLL_MESSAGE_ADDRESS) or a bad key keeps the circuit open for good.
        return logging.ERROR
    return logging.WARNING
