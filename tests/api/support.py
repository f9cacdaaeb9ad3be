"""What the API tests share: keys, sample messages, a fake provider and a spec-checking client."""
from __future__ import annotations

import itertools

from flask.testing import FlaskClient

from sendmailproxy.message import Address, Message
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider
from tests.api.spec_check import assert_response_matches_spec

KEY = "current-key-0123456789"
OLD_KEY = "previous-key-9876543210"  # still valid during a key rotation
MAX_BODY_BYTES = 64 * 1024

# The request of the original service's README, byte for byte.
README_BODY = (b'{"fromaddress":"an@email.com","plaintextbody":"test_body","subject":"test",'
               b'"toaddress":"another@email.com"}')
# The same message as a dict, and as the Message a provider should get.
MINIMAL = {"fromaddress": "an@email.com", "toaddress": "another@email.com", "subject": "test",
           "plaintextbody": "test_body"}
MINIMAL_MESSAGE = Message(sender=Address("an@email.com"), to=(Address("another@email.com"),), subject="test",
                          text="test_body")


class FakeProvider(Provider):
    """Answers every send with `outcome` (by default: accepted, with a fresh id) and records what it got."""

    max_send_seconds = 1.0

    def __init__(self, name: str):
        self.name = name
        self.outcome: Outcome | None = None
        self.sent: list[Message] = []
        self._ids = itertools.count(1)

    def send(self, message: Message) -> Outcome:
        self.sent.append(message)
        return self.outcome or Outcome(OutcomeKind.ACCEPTED, message_id=f"<{next(self._ids)}@{self.name}>")

    def probe(self) -> Outcome:
        return Outcome(OutcomeKind.ACCEPTED)


class SpecCheckingClient(FlaskClient):
    """A test client that checks every response it gets against swagger.yaml."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert_response_matches_spec(response)
        return response


def nothing_sent(providers: list[FakeProvider]) -> bool:
    return not any(provider.sent for provider in providers)
