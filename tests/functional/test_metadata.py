"""Metadata through real gunicorn: sent to each provider's fake as that provider's custom data, it comes back
exactly in the signed webhook the fake posts to POST /webhooks/<provider>, and from there in GET /events."""
from __future__ import annotations

import pytest
import requests

from testkit.harness import API_KEY
from tests.functional.test_webhooks import post_events, webhook_env

pytestmark = pytest.mark.functional

METADATA = {"order": "1234", "note": 'Any printable ASCII: "100%" _ok_ \\ / =?x?=', "customer-id": "c_77"}


@pytest.mark.parametrize("provider", ["mailgun", "sendgrid", "ses", "postmark"])
def test_metadata_sent_through_the_service_comes_back_in_the_feed(start_service, clean_fake, provider):
    service = start_service(**webhook_env(clean_fake, SMSP_PROVIDERS=provider, WEB_CONCURRENCY=1))

    sent = service.send(toaddress=["ann@example.com", "bob@example.com"], tags=["welcome"], metadata=METADATA)

    assert sent.status_code == 200, sent.text
    message_id = sent.json()["id"]
    answers = post_events(clean_fake, service.url, provider, message_id, "delivered")
    assert answers and {status for status, _ in answers} == {200}, answers
    feed = requests.get(service.url + "/events", headers={"X-API-KEY": API_KEY}, timeout=15)  # all it holds
    assert feed.status_code == 200, feed.text
    events = feed.json()["events"]
    assert sorted((e["type"], e["recipient"], e["message_id"]) for e in events) == [
        ("delivered", "ann@example.com", message_id), ("delivered", "bob@example.com", message_id)]
    assert all(e["metadata"] == METADATA and e["tags"] == ["welcome"] for e in events), (
        clean_fake.control.messages(provider), events)


def test_metadata_through_the_relay_is_one_json_header(start_service, clean_fake):
    service = start_service(SMSP_PROVIDERS="smtp", WEB_CONCURRENCY=1)

    assert service.send(tags=["welcome"], metadata=METADATA).status_code == 200

    [record] = clean_fake.control.messages("smtp")
    assert (record["tags"], record["variables"]) == (["welcome"], METADATA)
