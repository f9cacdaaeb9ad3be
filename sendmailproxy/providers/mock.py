"""In-process stand-ins for the providers (SMSP_MOCK_EMAIL_SERVICE=true): no network, behaviour by subject."""
from __future__ import annotations

import time
import uuid

from sendmailproxy.message import Message
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider


class MockProvider(Provider):
    """Subject `timeout` waits out the timeout (ambiguous), `fail` is not accepted, anything else is accepted."""

    def __init__(self, name: str, timeout: float):
        self.name = name
        self._timeout = timeout
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
        return Outcome(OutcomeKind.ACCEPTED, message_id=f"<{uuid.uuid4()}@mock.{self.name}>")

    def probe(self) -> Outcome:
        """Always accepted."""
        return Outcome(OutcomeKind.ACCEPTED, "mock probe")
