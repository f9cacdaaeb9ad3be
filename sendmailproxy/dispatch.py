"""Failover: hand a message to the first provider whose circuit is closed, and never send it twice."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

from sendmailproxy import metrics
from sendmailproxy.circuits import Circuits
from sendmailproxy.errors import (
    AllCircuitsOpenError,
    AllProvidersFailedError,
    OutcomeUnknownError,
    ProviderTimeoutError,
    RejectedByProviderError,
)
from sendmailproxy.message import Message
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """One provider call, for the request log."""

    provider: str
    outcome: Outcome
    seconds: float


@dataclass(frozen=True)
class Delivery:
    """The message was accepted, by the last of its attempts; `skipped` recipients were left out before it."""

    provider: str
    message_id: str | None
    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...] = ()

    @property
    def accepted(self) -> Attempt:
        return self.attempts[-1]

    def payload(self) -> dict:
        """The 200 answer: who took the message, and its id there (and who was skipped, if anyone)."""
        payload = {"provider": self.provider, "id": self.message_id}
        if self.skipped:
            payload["skipped"] = list(self.skipped)
        return payload


@dataclass(frozen=True)
class Stopped:
    """The gate stopped the send before a provider call; the gate knows why."""


class Gate(Protocol):
    """Asked before each provider call whether the send may go on (idempotency keys use one)."""

    def before(self, provider: str) -> bool:
        """True to call `provider` now; False stops the send there."""


class Dispatcher:
    """Tries providers in failover order; fails over only where provably nothing was accepted."""

    def __init__(self, providers: Sequence[Provider], circuits: Circuits):
        self.providers = tuple(providers)
        self.circuits = circuits

    def send(self, message: Message, gate: Gate | None = None, skipped: tuple[str, ...] = ()) -> Delivery | Stopped:
        """Deliver through one provider, or raise the SendError that tells the client what happened.

        A `gate` is asked before each provider call; when it says no, the send stops there, as `Stopped`.
        `skipped`: the recipients the suppression list left out, told in the Delivery's answer.
        """
        attempts: list[Attempt] = []
        for provider in self.providers:
            circuit = self.circuits[provider.name]
            if not circuit.closed:
                continue  # real mail never goes along an open circuit
            if gate and not gate.before(provider.name):
                return Stopped()
            attempt = self._attempt(provider, message)
            attempts.append(attempt)
            outcome = attempt.outcome
            self.circuits.record_outcome(circuit, outcome)
            if outcome.kind is OutcomeKind.ACCEPTED:
                return Delivery(provider.name, outcome.message_id, tuple(attempts), skipped)
            if outcome.kind is OutcomeKind.REJECTED:
                raise RejectedByProviderError(
                    f"{provider.name} rejected the message: {outcome.reason}",
                    body={"provider": provider.name}, attempts=tuple(attempts))
            if outcome.kind is OutcomeKind.AMBIGUOUS:
                # A duplicate is worse than an error: the client decides whether to send again.
                error = ProviderTimeoutError if outcome.timed_out else OutcomeUnknownError
                raise error(
                    f"{provider.name} did not confirm the message ({outcome.reason}): it may or may not "
                    "have been sent, so it was not sent again",
                    body={"provider": provider.name}, attempts=tuple(attempts))
            # NOT_ACCEPTED: nothing was taken, so the next provider is safe.
        if not attempts:
            metrics.ALL_CIRCUITS_OPEN.inc()
            raise AllCircuitsOpenError("Every provider's circuit is open; nothing was sent.",
                                       retry_after=self.circuits.seconds_until_probe())
        raise AllProvidersFailedError(
            "No provider accepted the message; nothing was sent: "
            + "; ".join(f"{a.provider}: {a.outcome.reason}" for a in attempts),
            attempts=tuple(attempts))

    @staticmethod
    def _attempt(provider: Provider, message: Message) -> Attempt:
        started = time.perf_counter()
        try:
            outcome = provider.send(message)
        except Exception as error:  # noqa: BLE001 - an adapter bug must not become a 500 or a re-send
            log.exception("provider adapter raised", extra={"provider": provider.name})
            outcome = Outcome(OutcomeKind.AMBIGUOUS, reason=f"adapter error {type(error).__name__}")
        attempt = Attempt(provider.name, outcome, time.perf_counter() - started)
        metrics.labelled(metrics.PROVIDER_ATTEMPTS, provider.name, outcome.kind.value).inc()
        metrics.labelled(metrics.PROVIDER_LATENCY, provider.name).observe(attempt.seconds)
        if outcome.kind is not OutcomeKind.ACCEPTED:  # an acceptance is told by the request line (api.py)
            log.log(_level(outcome), "provider attempt", extra={
                "provider": provider.name, "outcome": outcome.kind.value, "provider_status": outcome.status,
                "duration_ms": round(attempt.seconds * 1000, 1), "reason": outcome.reason or None})
        return attempt


def _level(outcome: Outcome) -> int:
    if outcome.needs_an_operator:
        return logging.ERROR
    return logging.WARNING if outcome.is_provider_failure else logging.INFO
