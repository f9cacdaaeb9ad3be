"""What the API tests share: keys, sample messages and a spec-checking client."""
from __future__ import annotations

from flask.testing import FlaskClient

from sendmailproxy.message import Address, Message
from testkit.providers import FakeProvider
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


class SpecCheckingClient(FlaskClient):
    """A test client that checks every response it gets against swagger.yaml."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert_response_matches_spec(response)
        return response


def nothing_sent(providers: list[FakeProvider]) -> bool:
    return not any(provider.sent for provider in providers)
