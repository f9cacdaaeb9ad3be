"""POST /email and the suppression list: listed recipients refused (or skipped) before any provider, one lookup,
store outages failing open (or closed when told), and Idempotency-Keys that keep nothing for a refusal."""
from __future__ import annotations

import dataclasses
import json

import pytest
from prometheus_client import REGISTRY

from sendmailproxy.message import Address
from sendmailproxy.providers.base import Outcome, OutcomeKind
from sendmailproxy.store.redis import RedisBackend
from sendmailproxy.suppression import open_suppressions
from sendmailproxy.suppression.store import Entry
from testkit.ports import free_port
from tests.api.support import KEY, MINIMAL, nothing_sent

BOUNCED = Entry("bounced@example.com", "bounced", "sendgrid", "2026-12-03T13:23:06Z", "ev_" + "1" * 32)
COMPLAINED = Entry("complained@example.com", "complained", "ses", "2026-12-02T08:00:00Z", "ev_" + "2" * 32)
FAILED = Outcome(OutcomeKind.NOT_ACCEPTED, "HTTP 503", status=503)


def service_of(app):
    return app.extensions["sendmailproxy"]


@pytest.fixture
def suppressions(app):
    """The app's suppression list, with BOUNCED and COMPLAINED on it."""
    store = service_of(app).suppressions
    store.add(BOUNCED)
    store.add(COMPLAINED)
    return store


@pytest.fixture
def unreachable(app):
    """Point the app's suppression list at a Redis port where nothing listens: every lookup fails, as in an outage."""
    store = open_suppressions(RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=1))
    app.extensions["sendmailproxy"] = dataclasses.replace(service_of(app), suppressions=store)
    return store


def checks(result: str) -> float:
    return REGISTRY.get_sample_value("smsp_suppression_checks_total", {"result": result}) or 0.0


def message(**fields) -> dict:
    return {**MINIMAL, **fields}


def suppressed(response) -> list[dict]:
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "recipients_suppressed"
    return body["suppressed"]


@pytest.mark.parametrize("field", ["toaddress", "ccaddress", "bccaddress"])
def test_a_listed_recipient_in_any_field_is_refused_and_nothing_is_sent(post_email, providers, suppressions, field):
    fields = {"toaddress": ["fine@example.com"], field: ["other@example.com", "bounced@example.com"]}
    response = post_email(message(**fields))
    assert suppressed(response) == [{"address": "bounced@example.com", "reason": "bounced", "provider": "sendgrid",
                                     "since": "2026-12-03T13:23:06Z"}]
    assert nothing_sent(providers)


def test_every_listed_recipient_is_named(post_email, providers, suppressions):
    response = post_email(message(toaddress=["Bee <bounced@example.com>", "fine@example.com"],
                                  bccaddress="complained@example.com"))
    assert [(s["address"], s["reason"], s["provider"]) for s in suppressed(response)] == [
        ("bounced@example.com", "bounced", "sendgrid"), ("complained@example.com", "complained", "ses")]
    assert nothing_sent(providers)


def test_nothing_is_sent_after_a_failover_either(post_email, providers, suppressions):
    providers[0].outcome = FAILED
    assert post_email(MINIMAL).json["provider"] == "sendgrid"  # mailgun's circuit is open now (threshold 1)
    sent_before = len(providers[1].sent)
    suppressed(post_email(message(toaddress="bounced@example.com")))
    assert len(providers[1].sent) == sent_before and len(providers[0].sent) == 1


def test_addresses_compare_ignoring_case_and_are_named_as_requested(post_email, providers, suppressions):
    suppressions.add(dataclasses.replace(BOUNCED, address="Mixed.Case@Example.COM"))
    response = post_email(message(toaddress="Ann <BOUNCED@example.com>", ccaddress="mixed.case@EXAMPLE.com"))
    assert [s["address"] for s in suppressed(response)] == ["BOUNCED@example.com", "mixed.case@EXAMPLE.com"]
    assert nothing_sent(providers)


def test_an_unlisted_message_goes_out_with_no_skipped_field(post_email, providers, suppressions):
    response = post_email(message(suppressed="refuse"))
    assert response.status_code == 200 and "skipped" not in response.get_json()
    assert len(providers[0].sent) == 1


def test_skip_sends_to_the_others_and_names_the_skipped(post_email, providers, suppressions):
    response = post_email(message(toaddress=["Bee <bounced@example.com>", "Ann <ann@example.com>"],
                                  ccaddress=["COMPLAINED@example.com", "cat@example.com"],
                                  bccaddress="bounced-not@example.com", suppressed="skip"))
    assert response.status_code == 200
    assert response.get_json() == {"provider": "mailgun", "id": "<1@mailgun>",
                                   "skipped": ["bounced@example.com", "COMPLAINED@example.com"]}
    [sent] = providers[0].sent
    assert (sent.to, sent.cc, sent.bcc) == ((Address("ann@example.com", "Ann"),), (Address("cat@example.com"),),
                                            (Address("bounced-not@example.com"),))


def test_skip_refuses_when_no_toaddress_is_left(post_email, providers, suppressions):
    response = post_email(message(toaddress="bounced@example.com", ccaddress="fine@example.com", suppressed="skip"))
    assert [s["address"] for s in suppressed(response)] == ["bounced@example.com"]
    assert "No toaddress is left" in response.get_json()["message"]
    assert nothing_sent(providers)


@pytest.mark.parametrize("value", ["SKIP", "drop", True, 1, ["skip"]])
def test_suppressed_takes_only_refuse_or_skip(post_email, providers, value):
    response = post_email(message(suppressed=value))
    assert response.status_code == 422 and "suppressed" in response.get_json()["errors"]
    assert nothing_sent(providers)


def test_the_check_counts_each_result(post_email, suppressions):
    before = {result: checks(result) for result in ("clear", "refused", "skipped")}
    post_email(MINIMAL)
    post_email(message(toaddress="bounced@example.com"))
    post_email(message(toaddress=["bounced@example.com", "fine@example.com"], suppressed="skip"))
    assert {result: checks(result) - before[result] for result in before} == {"clear": 1, "refused": 1, "skipped": 1}


def test_a_refused_keyed_message_keeps_nothing(post_email, providers, suppressions):
    keyed = {"Idempotency-Key": "welcome/bounced"}
    suppressed(post_email(message(toaddress="bounced@example.com"), headers=keyed))
    suppressions.remove("bounced@example.com")
    retry = post_email(message(toaddress="bounced@example.com"), headers=keyed)
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    assert len(providers[0].sent) == 1


def test_a_keyed_retry_gets_its_answer_even_after_the_recipient_was_suppressed(post_email, providers, suppressions):
    # The send made the address bounce, and the client retries (its first answer was lost): replay, not 422.
    keyed = {"Idempotency-Key": "welcome/ann"}
    first = post_email(message(toaddress="ann@example.com"), headers=keyed)
    suppressions.add(dataclasses.replace(BOUNCED, address="ann@example.com"))
    retry = post_email(message(toaddress="ann@example.com"), headers=keyed)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert len(providers[0].sent) == 1


def test_a_skipping_keyed_retry_after_one_more_suppression_is_replayed_not_a_reused_key(post_email, providers,
                                                                                       suppressions):
    # The key's fingerprint is the message as requested, before skipping: the list changing between two
    # attempts does not make the retry "a different message".
    keyed = {"Idempotency-Key": "welcome/team"}
    body = message(toaddress=["ann@example.com", "bob@example.com", "bounced@example.com"], suppressed="skip")
    first = post_email(body, headers=keyed)
    assert first.get_json()["skipped"] == ["bounced@example.com"]
    suppressions.add(dataclasses.replace(BOUNCED, address="bob@example.com"))
    retry = post_email(body, headers=keyed)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert len(providers[0].sent) == 1


def test_a_skipping_keyed_retry_after_nothing_was_sent_sends_to_who_is_left(make_app, providers):
    app = make_app(failure_threshold=2)  # one failure each leaves both circuits closed for the retry
    keyed = {"X-API-KEY": KEY, "Idempotency-Key": "welcome/team"}
    body = message(toaddress=["ann@example.com", "bob@example.com"], suppressed="skip")
    for provider in providers:
        provider.will_send(FAILED)
    assert app.test_client().post("/email", json=body, headers=keyed).status_code == 502  # the key is free again
    service_of(app).suppressions.add(dataclasses.replace(BOUNCED, address="bob@example.com"))
    retry = app.test_client().post("/email", json=body, headers=keyed)
    assert retry.status_code == 200 and retry.get_json()["skipped"] == ["bob@example.com"]
    assert providers[0].sent[-1].to == (Address("ann@example.com"),)


def test_a_store_outage_fails_open_counted_and_logged(post_email, providers, unreachable, capfd):
    errors = checks("store_error")
    capfd.readouterr()
    response = post_email(message(toaddress="bounced@example.com"))
    assert response.status_code == 200 and len(providers[0].sent) == 1
    assert checks("store_error") == errors + 1
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    [line] = [line for line in lines if line["message"] == "suppression list unavailable"]
    assert line["level"] == "ERROR" and line["sent_unchecked"] is True and "redis" in line["reason"]


def test_a_store_outage_with_refuse_is_a_503_and_nothing_is_sent(make_app, providers):
    app = make_app(suppression_on_store_error="refuse")
    unreachable_store = open_suppressions(RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=1))
    app.extensions["sendmailproxy"] = dataclasses.replace(service_of(app), suppressions=unreachable_store)
    errors = checks("store_error")
    response = app.test_client().post("/email", json=MINIMAL, headers={"X-API-KEY": KEY})
    assert response.status_code == 503
    assert response.get_json()["code"] == "suppression_store_unavailable"
    assert response.headers["Retry-After"] == "1" and response.get_json()["retry_after"] == 1
    assert nothing_sent(providers) and checks("store_error") == errors + 1


def test_off_means_no_lookup_at_all(make_app, providers):
    app = make_app(suppression=False)
    service = service_of(app)
    service.suppressions.add(BOUNCED)
    lookups = []
    app.extensions["sendmailproxy"] = dataclasses.replace(service, suppressions=Spy(service.suppressions, lookups))
    response = app.test_client().post("/email", json=message(toaddress="bounced@example.com"),
                                      headers={"X-API-KEY": KEY})
    assert response.status_code == 200 and len(providers[0].sent) == 1
    assert lookups == []


def test_the_check_is_one_lookup_of_every_recipient(app, post_email, suppressions):
    lookups = []
    app.extensions["sendmailproxy"] = dataclasses.replace(service_of(app), suppressions=Spy(suppressions, lookups))
    post_email(message(toaddress=["a@example.com", "b@example.com"], ccaddress="c@example.com",
                       bccaddress=["d@example.com"]))
    assert lookups == [["a@example.com", "b@example.com", "c@example.com", "d@example.com"]]


class Spy:
    """A suppression store that records every lookup's addresses, then asks the real one."""

    def __init__(self, store, lookups: list):
        self.store, self.lookups = store, lookups

    def lookup(self, addresses):
        self.lookups.append(list(addresses))
        return self.store.lookup(self.lookups[-1])
