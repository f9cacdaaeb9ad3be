"""What every provider adapter offers, and the one outcome type every call ends in."""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import ClassVar

from sendmailproxy.limits import Limits
from sendmailproxy.message import Message


class OutcomeKind(enum.Enum):
    """The error taxonomy of docs/failover.md section 1: exactly one per provider call."""

    ACCEPTED = "accepted"  # the provider took the message
    REJECTED = "rejected"  # the caller's message is bad; the provider is healthy
    NOT_ACCEPTED = "not_accepted"  # provider or credential trouble; provably nothing was sent
    AMBIGUOUS = "ambiguous"  # the request may or may not have been taken: never re-send


# Short names for the answer tables of the adapters.
ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS


@dataclass(frozen=True)
class Outcome:
    """The result of one provider call. `reason` is safe to log and to show to the client."""

    kind: OutcomeKind
    reason: str = ""
    message_id: str | None = None
    status: int | None = None  # the provider's HTTP status or SMTP reply code; None for transport failures
    timed_out: bool = False  # an ambiguous read timeout (the client gets 504, not 502)
    retry_after: float | None = None  # seconds the provider asked us to wait (429/420)
    # The provider named an account, credentials or setup problem behind a status that does not say so
    # (SES AccountSuspendedException is a 400, Postmark's "not allowed to send" a 422, an SMTP relay's 535).
    operator_must_act: bool = False

    @property
    def needs_an_operator(self) -> bool:
        """A credentials, permission or account failure: no probe will fix it until someone acts."""
        return self.operator_must_act or self.status in (401, 403)

    @property
    def is_provider_failure(self) -> bool:
        """Whether this outcome counts against the provider's circuit."""
        return self.kind in (OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS)


@dataclass(frozen=True)
class ProviderOptions:
    """What every adapter is told besides its own settings: the same for all of them in one worker."""

    timeout: float  # of each network wait (connect, read, each SMTP command): SMSP_PROVIDER_TIMEOUT
    pool_size: int  # connections kept per adapter: one per thread that may send at once
    poll_address: str  # the sender and recipient of probes: SMSP_POLL_MESSAGE_ADDRESS


class Provider(abc.ABC):
    """A mail provider. `send` and `probe` never raise for provider trouble: they return an Outcome.

    A registered adapter also has `Settings`: a frozen dataclass with a classmethod
    `from_env(env: EnvReader, required: bool)` that reads its `SMSP_*` variables (required is False in mock
    mode), and it is built as `Adapter(settings, options)`: its own Settings and the shared ProviderOptions.

    `max_send_seconds` is the longest one `send` can take, every network wait included (HttpProvider: the
    connect and read timeouts; an adapter with more round trips states its own). An Idempotency-Key's lease
    covers every provider's in turn, so a request still sending is never taken for a dead one.
    """

    name: str
    Settings: ClassVar[type]
    limits: ClassVar[Limits] = Limits()  # what this provider takes in one message; checked before any send
    max_send_seconds: float

    @abc.abstractmethod
    def send(self, message: Message) -> Outcome:
        """Send a real message."""

    @abc.abstractmethod
    def probe(self) -> Outcome:
        """Send the poll message through the real send endpoint in the provider's no-delivery mode."""
