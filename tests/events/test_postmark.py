"""Postmark: Basic auth compared in constant time, and its records' ids."""
import base64

import pytest

from fakeproviders.signing import json_body
from sendmailproxy.events.verdict import Accepted, Refused

from .conftest import NOW, PM_PASSWORD, PM_USER, postmark_headers
from .payloads import RECIPIENT, postmark_bounce, postmark_record

BODY = json_body(postmark_bounce("HardBounce"))


def test_the_right_credentials_are_accepted(postmark):
    verdict = postmark.receive(BODY, postmark_headers(), NOW)
    assert isinstance(verdict, Accepted) and [e.type for e in verdict.events] == ["bounced"]


@pytest.mark.parametrize("headers", [
    {}, postmark_headers(password="wrong"), postmark_headers(user="someone"), postmark_headers(password=""),
    {"Authorization": "Bearer " + PM_PASSWORD}, {"Authorization": "Basic not-base64!"},
    {"Authorization": "Basic " + base64.b64encode(PM_USER.encode()).decode()},
    postmark_headers(password=PM_PASSWORD + "x"),
], ids=["none", "wrong password", "wrong user", "empty password", "not basic", "not base64", "no colon",
        "longer password"])
def test_wrong_credentials_are_refused_with_401(postmark, headers):
    verdict = postmark.receive(BODY, headers, NOW)
    assert isinstance(verdict, Refused) and verdict.status == 401


@pytest.mark.parametrize("body", [BODY[:-5], b"[]", json_body({"RecordType": "Delivery"})],
                         ids=["truncated", "an array", "delivery without fields"])
def test_malformed_bodies_are_refused_with_400(postmark, body):
    verdict = postmark.receive(body, postmark_headers(), NOW)
    assert isinstance(verdict, Refused) and verdict.status == 400


def test_a_retried_record_keeps_its_id_and_another_record_gets_another(postmark):
    def receive(record):
        return postmark.receive(json_body(record), postmark_headers(), NOW).events[0].id

    open_ = postmark_record("Open", Recipient=RECIPIENT, ReceivedAt="2026-12-03T12:13:20Z")
    later = postmark_record("Open", Recipient=RECIPIENT, ReceivedAt="2026-12-03T12:14:20Z")
    assert receive(open_) == receive(open_) != receive(later)
