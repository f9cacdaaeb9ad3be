"""Mailgun: HMAC over timestamp + token, the token's nonce for the store, replay windows, bad bodies."""
import hashlib
import json

import pytest

from fakeproviders.signing import json_body
from sendmailproxy.events.verdict import Accepted, Nonce, Refused

from .conftest import MAX_AGE, NOW, mailgun_post
from .payloads import mailgun_event


def test_a_signed_event_is_accepted_with_its_nonce(mailgun):
    body = mailgun_post(mailgun_event("delivered"), token="a" * 50)
    verdict = mailgun.receive(body, {}, NOW)
    assert verdict == Accepted(verdict.events, nonce=Nonce("a" * 50, hashlib.sha256(body).hexdigest()))
    assert len(verdict.events) == 1


def test_the_same_event_twice_gets_one_id_and_a_new_day_another(mailgun):
    first = mailgun.receive(mailgun_post(mailgun_event("delivered"), token="a" * 50), {}, NOW)
    retry = mailgun.receive(mailgun_post(mailgun_event("delivered"), token="b" * 50), {}, NOW)
    next_day = mailgun.receive(mailgun_post(mailgun_event("delivered", timestamp=1796300000 + 86400)), {}, NOW)
    assert first.events[0].id == retry.events[0].id != next_day.events[0].id
    assert first.nonce.token != retry.nonce.token


def test_another_body_under_the_same_token_gives_another_body_hash(mailgun):
    # The store refuses a token it saw with another body; the verdict gives it both halves.
    one = mailgun.receive(mailgun_post(mailgun_event("delivered")), {}, NOW)
    other = mailgun.receive(mailgun_post(mailgun_event("complained")), {}, NOW)
    assert one.nonce.token == other.nonce.token and one.nonce.body_sha256 != other.nonce.body_sha256


def _resigned(body: bytes, **signature) -> bytes:
    payload = json.loads(body)
    payload["signature"].update(signature)
    return json_body(payload)


@pytest.mark.parametrize("body, reason", [
    (json_body({"event-data": mailgun_event("delivered")}), "no signature"),
    (mailgun_post(mailgun_event("delivered"), key="key-another-domain"), "wrong signature"),
    (_resigned(mailgun_post(mailgun_event("delivered")), token="x" * 50), "wrong signature"),
    (_resigned(mailgun_post(mailgun_event("delivered")), timestamp=str(int(NOW) + 1)), "wrong signature"),
    (_resigned(mailgun_post(mailgun_event("delivered")), signature=None), "no signature"),
    (mailgun_post(mailgun_event("delivered"), timestamp=NOW - MAX_AGE - 1), "older than"),
    (mailgun_post(mailgun_event("delivered"), timestamp=NOW + 301), "ahead"),
], ids=["no signature", "wrong key", "another token", "another timestamp", "signature not a string", "stale",
        "future"])
def test_unauthenticated_posts_are_refused_with_401(mailgun, body, reason):
    verdict = mailgun.receive(body, {}, NOW)
    assert isinstance(verdict, Refused) and verdict.status == 401 and reason in verdict.reason


def test_timestamps_inside_the_window_are_accepted(mailgun):
    for moment in (NOW - MAX_AGE + 1, NOW + 299):
        assert isinstance(mailgun.receive(mailgun_post(mailgun_event("delivered"), timestamp=moment), {}, NOW),
                          Accepted)


@pytest.mark.parametrize("body", [
    mailgun_post(mailgun_event("delivered"))[:-10], b"\xff\xfe", b"[]", b"null",
    mailgun_post({"event": "delivered"}), mailgun_post(mailgun_event("delivered", recipient=None)),
    mailgun_post(mailgun_event("delivered", timestamp="yesterday")),
    mailgun_post(mailgun_event("delivered", timestamp=1e300)),
    b"[" * 100000,
], ids=["truncated", "not utf-8", "an array", "null", "event-data without fields", "recipient null",
        "timestamp not a number", "timestamp out of range", "nested too deep"])
def test_malformed_bodies_are_refused_with_400(mailgun, body):
    verdict = mailgun.receive(body, {}, NOW)
    assert isinstance(verdict, Refused) and verdict.status == 400
