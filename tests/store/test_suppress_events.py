"""suppress(): the events that suppress put their recipients on the list, each counted once by reason."""
from __future__ import annotations

import dataclasses

from prometheus_client import REGISTRY

from sendmailproxy.suppression import suppress
from sendmailproxy.suppression.store import Entry
from tests.store.conftest import event


def added(reason: str) -> float:
    return REGISTRY.get_sample_value("smsp_suppressions_added_total", {"reason": reason}) or 0.0


def test_suppressing_events_list_their_recipients_since_the_event(suppressions):
    before = {reason: added(reason) for reason in ("bounced", "complained")}
    hard = dataclasses.replace(event(1, recipient="ann@example.com", type="bounced"), suppresses="bounced",
                               provider="sendgrid", reason="550 5.1.1 no such user")
    spam = dataclasses.replace(event(2, recipient="bob@example.com", type="complained"), suppresses="complained")
    soft = event(3, recipient="cat@example.com", type="deferred")
    delivered = event(4, recipient="ann@example.com")
    assert suppress(suppressions, [hard, soft, spam, delivered]) == 2
    assert suppressions.lookup(["ann@example.com", "bob@example.com", "cat@example.com"]) == {
        "ann@example.com": Entry("ann@example.com", "bounced", "sendgrid", hard.occurred_at, hard.id,
                                 "550 5.1.1 no such user"),
        "bob@example.com": Entry("bob@example.com", "complained", "mailgun", spam.occurred_at, spam.id)}
    assert {reason: added(reason) - before[reason] for reason in before} == {"bounced": 1, "complained": 1}


def test_a_providers_retry_adds_and_counts_nothing(suppressions):
    hard = dataclasses.replace(event(1, recipient="ann@example.com", type="bounced"), suppresses="bounced")
    suppress(suppressions, [hard])
    before = added("bounced")
    assert suppress(suppressions, [hard, hard]) == 0
    assert added("bounced") == before


def test_an_address_keeps_its_first_reason_and_a_delivery_never_lifts_it(suppressions):
    # SES may report Delivery and then Bounce for one recipient, in either order.
    bounce = dataclasses.replace(event(1, recipient="ann@example.com", type="bounced"), suppresses="bounced")
    unsubscribe = dataclasses.replace(event(2, recipient="ANN@example.com", type="unsubscribed"),
                                      suppresses="unsubscribed")
    suppress(suppressions, [bounce, event(3, recipient="ann@example.com"), unsubscribe])
    assert suppressions.lookup(["ann@example.com"])["ann@example.com"].reason == "bounced"
