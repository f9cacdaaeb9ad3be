"""The one probe thread per worker: it probes open circuits and is the only thing that closes them."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Sequence

from sendmailproxy import metrics
from sendmailproxy.background import BackgroundThread
from sendmailproxy.circuits import Circuits
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider

log = logging.getLogger(__name__)

OPERATOR_MUST_ACT = ("probe failed: an operator must act (credentials, permissions or account state); "
                     "probing continues at most once per SMSP_POLL_MAX_INTERVAL")


class Prober(BackgroundThread):
    """Polls open circuits with each provider's no-delivery probe; restartable if it ever stops."""

    name, what = "prober", "probe"

    def __init__(self, circuits: Circuits, providers: Sequence[Provider], *, poll_interval: float,
                 clock: Callable[[], float] = time.monotonic):
        self.circuits = circuits
        self.providers = {provider.name: provider for provider in providers}
        # Wake often enough to honour jittered due times. A round is at most one probe per provider, and a probe
        # takes no longer than a send (an SMTP probe waits on several commands): stale only past two such rounds.
        self.tick = min(1.0, poll_interval / 5)
        super().__init__(clock, stale_after=2 * (self.tick + sum(p.max_send_seconds for p in providers)) + 1)

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
