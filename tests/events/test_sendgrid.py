"""SendGrid: ECDSA over the timestamp header and the raw body; a batch is accepted or refused whole."""
import pytest

from fakeproviders.signing import SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, SendGridSigner
from sendmailproxy.events.sendgrid import load_public_key
from sendmailproxy.events.verdict import Accepted, Refused

from .conftest import MAX_AGE, NOW, sendgrid_post
from .payloads import sendgrid_event

BATCH = [sendgrid_event("processed"), sendgrid_event("delivered"), sendgrid_event("open"),
         sendgrid_event("some_future_event")]


def test_a_signed_batch_is_accepted_and_unknown_types_are_counted(sendgrid, sendgrid_signer):
    verdict = sendgrid.receive(*sendgrid_post(sendgrid_signer, BATCH), NOW)
    assert isinstance(verdict, Accepted)
    assert [e.type for e in verdict.events] == ["delivered", "opened"] and verdict.skipped == 2


def test_the_same_batch_again_gives_the_same_event_ids(sendgrid, sendgrid_signer):
    first = sendgrid.receive(*sendgrid_post(sendgrid_signer, BATCH), NOW)
    again = sendgrid.receive(*sendgrid_post(sendgrid_signer, BATCH, timestamp=NOW + 60), NOW + 60)
    assert [e.id for e in first.events] == [e.id for e in again.events]
    assert len({e.id for e in first.events}) == 2


def test_metadata_is_every_key_sendgrid_does_not_own_and_a_category_string_is_one_tag(sendgrid, sendgrid_signer):
    item = sendgrid_event("delivered", category="welcome", response="250 OK", tls=1, ip="192.0.2.1")
    event, = sendgrid.receive(*sendgrid_post(sendgrid_signer, [item]), NOW).events
    assert event.metadata == {"order": "A-17", "user_id": "42"} and event.tags == ("welcome",)
    assert event.reason == "250 OK"


def test_an_async_bounce_without_sg_message_id_has_no_message_id(sendgrid, sendgrid_signer):
    item = sendgrid_event("bounce", type="bounce", reason="550 unknown")
    del item["sg_message_id"]
    event, = sendgrid.receive(*sendgrid_post(sendgrid_signer, [item]), NOW).events
    assert event.message_id is None and event.type == "bounced"


def _tampered(signer, **change):
    body, headers = sendgrid_post(signer, BATCH)
    return change.get("body", body), {**headers, **change.get("headers", {})}


@pytest.mark.parametrize("make, reason", [
    (lambda s: (sendgrid_post(s, BATCH)[0], {}), "no signature"),
    (lambda s: sendgrid_post(SendGridSigner(), BATCH), "wrong signature"),
    (lambda s: _tampered(s, body=sendgrid_post(s, BATCH)[0].replace(b"A-17", b"A-18")), "wrong signature"),
    (lambda s: _tampered(s, headers={SENDGRID_TIMESTAMP: str(int(NOW) + 1)}), "wrong signature"),
    (lambda s: _tampered(s, headers={SENDGRID_SIGNATURE: "not base64!"}), "wrong signature"),
    (lambda s: sendgrid_post(s, BATCH, timestamp=NOW - MAX_AGE - 1), "older than"),
    (lambda s: sendgrid_post(s, BATCH, timestamp=NOW + 301), "ahead"),
], ids=["no signature", "wrong key", "tampered body", "tampered timestamp", "signature not base64", "stale",
        "future"])
def test_unauthenticated_batches_are_refused_with_401(sendgrid, sendgrid_signer, make, reason):
    verdict = sendgrid.receive(*make(sendgrid_signer), NOW)
    assert isinstance(verdict, Refused) and verdict.status == 401 and reason in verdict.reason


@pytest.mark.parametrize("bad", [
    "not an object", {"event": "delivered"}, sendgrid_event("delivered", email=None),
    sendgrid_event("delivered", timestamp="1796300000"), sendgrid_event("delivered", sg_event_id=7),
    sendgrid_event("delivered", timestamp=10**20),
], ids=["a string", "no fields", "email null", "timestamp a string", "sg_event_id a number",
        "timestamp out of range"])
def test_a_batch_with_one_malformed_element_is_refused_whole_with_400(sendgrid, sendgrid_signer, bad):
    verdict = sendgrid.receive(*sendgrid_post(sendgrid_signer, [*BATCH, bad]), NOW)
    assert isinstance(verdict, Refused) and verdict.status == 400 and "event 4" in verdict.reason


def test_a_truncated_or_non_array_body_is_refused_with_400(sendgrid, sendgrid_signer):
    body, headers = sendgrid_post(sendgrid_signer, BATCH)
    truncated = body[:-3]
    for bad in (truncated, b'{"event": "delivered"}'):
        verdict = sendgrid.receive(bad, sendgrid_signer.headers(bad, int(NOW)), NOW)
        assert isinstance(verdict, Refused) and verdict.status == 400


def test_a_truncated_body_under_the_whole_bodys_signature_is_refused_with_401(sendgrid, sendgrid_signer):
    body, headers = sendgrid_post(sendgrid_signer, BATCH)
    verdict = sendgrid.receive(body[:-3], headers, NOW)
    assert isinstance(verdict, Refused) and verdict.status == 401


@pytest.mark.parametrize("text", ["", "not base64!", "AAAA",
                                  "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="],
                         ids=["empty", "not base64", "not DER", "an Ed25519 key"])
def test_a_key_that_is_not_p256_does_not_load(text):
    with pytest.raises(ValueError):
        load_public_key(text)
