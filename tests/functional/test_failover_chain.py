"""Failover along all four providers through real gunicorn (3 workers): knock each out in turn, safely or not."""
from __future__ import annotations

import uuid

import pytest

from testkit.polling import wait_until
from tests.functional.test_failover import assert_each_delivered_once, delivered, send_many

pytestmark = pytest.mark.functional

ORDER = ("mailgun", "sendgrid", "ses", "postmark")
POLL_INTERVAL, POLL_MAX_INTERVAL = 0.3, 1.0
# Each provider's own way of saying "nothing was sent": its account or credentials errors.
SAFE_FAILURES = {"mailgun": ("not_allowed", {}), "sendgrid": ("status", {"status": 401}),
                 "ses": ("account", {"error": "suspended"}), "postmark": ("account", {"error": "not_allowed"})}
# And a way of leaving the outcome unknown: a 5xx, or no answer at all.
AMBIGUOUS_FAILURES = {"mailgun": ("status", {"status": 503}, 502), "sendgrid": ("hang", {}, 504),
                      "ses": ("status", {"status": 500}, 502), "postmark": ("hang", {}, 504)}


@pytest.fixture(scope="module")
def service(start_module_service):
    return start_module_service(SMSP_PROVIDERS=",".join(ORDER), SMSP_POLL_INTERVAL=POLL_INTERVAL,
                                SMSP_POLL_MAX_INTERVAL=POLL_MAX_INTERVAL)


@pytest.fixture
def chain(service, fake):
    """The shared service with every provider healthy and every worker's circuits closed, before and after."""
    def all_closed():
        return all(circuit["state"] == "closed" for health in service.health_of_every_worker().values()
                   for circuit in health["circuits"].values())

    fake.control.reset_faults()
    wait_until(all_closed, "every circuit of every worker to close", 15)
    fake.control.clear()
    yield service
    fake.control.reset_faults()


def knock_out(fake, providers):
    for provider in providers:
        mode, params = SAFE_FAILURES[provider]
        fake.control.set_fault(provider, mode, **params)


@pytest.mark.parametrize("down", range(1, len(ORDER)), ids=[f"{'+'.join(ORDER[:n])} down" for n in range(1, 4)])
def test_a_safe_failure_moves_the_same_request_on_and_a_recovered_provider_takes_the_traffic_back(
        chain, fake, down):
    knock_out(fake, ORDER[:down])

    results = send_many(chain, 24)

    assert [r.status_code for _, r in results] == [200] * 24
    assert {r.json()["provider"] for _, r in results} == {ORDER[down]}
    assert_each_delivered_once(fake, results)
    assert all(delivered(fake, provider) == [] for provider in ORDER[:down])

    recovered = ORDER[down - 1]
    fake.control.set_fault(recovered, "ok")
    wait_until(lambda: {h["circuits"][recovered]["state"] for h in chain.health_of_every_worker().values()}
               == {"closed"}, f"every worker's {recovered} circuit to close", 15)
    again = send_many(chain, 24)
    assert {r.json()["provider"] for _, r in again} == {recovered}
    assert_each_delivered_once(fake, results + again)
    assert fake.control.messages(recovered, probes=True), f"{recovered}'s circuit closed without a probe"


@pytest.mark.parametrize("position", range(len(ORDER)), ids=ORDER)
def test_an_ambiguous_failure_is_never_sent_again(chain, fake, position):
    knock_out(fake, ORDER[:position])
    provider = ORDER[position]
    mode, params, error_status = AMBIGUOUS_FAILURES[provider]
    fake.control.set_fault(provider, mode, **params)
    subject = f"ambiguous-{uuid.uuid4().hex}"

    response = chain.send(subject=subject)

    assert response.status_code == error_status
    assert response.json()["provider"] == provider and "may or may not" in response.json()["message"]
    assert [r for r in delivered(fake) if r["subject"] == subject] == []  # no later provider got it
    assert fake.control.stats()[provider]["requests"] >= 1
