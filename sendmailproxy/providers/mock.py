"""In-process stand-ins for the providers (SMSP_MOCK_EMAIL_SERVICE=true): no network, behaviour by subject."""
from __future__ import annotations

import time
import uuid
from typing import Callable, Sequence

from sendmailproxy.events.model import Event, event_id, rfc3339
from sendmailproxy.message import Message
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider

# Subject -> the event each recipient of an accepted mock send gets (any other subject: delivered), and the
# diagnostic a provider would give with it. A bounce and a complaint suppress the recipient, as a webhook's do.
MOCK_EVENTS = {"bounce": ("bounced", "550 5.1.1 mock bounce: no such user"),
               "complaint": ("complained", "abuse: mock complaint")}
DELIVERED = ("delivered", "250 2.0.0 mock delivery")


class MockProvider(Provider):
    """Subject `timeout` waits out the timeout (ambiguous), `fail` is not accepted, anything else is accepted; an
    accepted send hands its events (see MOCK_EVENTS) to `events`, the sink the service gives it."""

    def __init__(self, name: str, timeout: float, events: Callable[[Sequence[Event]], None] | None = None):
        self.name = name
        self._timeout = timeout
        self._events = events
        self.max_send_seconds = timeout

    def __repr__(self) -> str:
        return f"MockProvider(name={self.name!r})"

    def send(self, message: Message) -> Outcome:
        """Answer as the original Go service's mock did."""
        if message.subject == "timeout":
            time.sleep(self._timeout)
            return Outcome(OutcomeKind.AMBIGUOUS, "mock timeout", timed_out=True)
        if message.subject == "fail":
            return Outcome(OutcomeKind.NOT_ACCEPTED, "mock failure")
        message_id = f"<{uuid.uuid4()}@mock.{self.name}>"
        if self._events is not None:
            self._events(mock_events(self.name, message_id, message, time.time()))
        return Outcome(OutcomeKind.ACCEPTED, message_id=message_id)

    def probe(self) -> Outcome:
        """Always accepted."""
        return Outcome(OutcomeKind.ACCEPTED, "mock probe")


def mock_events(provider: str, message_id: str, message: Message, now: float) -> tuple[Event, ...]:
    """The events a real provider would report for an accepted mock send: one per recipient (to, cc, bcc), with
    the message's metadata and tags as a provider's events bring them back."""
    type_, reason = MOCK_EVENTS.get(message.subject, DELIVERED)
    recipients = dict.fromkeys(a.email.lower() for a in (*message.to, *message.cc, *message.bcc))
    return tuple(Event(id=event_id(provider, message_id, recipient), type=type_, provider=provider,
                       message_id=message_id, recipient=recipient, occurred_at=rfc3339(now), reason=reason,
                       metadata=dict(message.metadata), tags=message.tags,
                       suppresses=None if type_ == "delivered" else type_)
                 for recipient in recipients)
