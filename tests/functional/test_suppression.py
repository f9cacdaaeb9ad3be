"""The suppression list through real gunicorn and the fake providers: addresses listed by the admin API refused
before any provider (also with the first one's circuit open) until lifted, skip, two pods sharing a real
redis-server, and the store stopped mid-run (fail open, counted; or 503 with refuse). The fakes' records say what
was really sent. Entries that webhooks add: test_suppression_webhooks.py."""
from __future__ import annotations

import re

import pytest
import requests

from testkit.harness import Gunicorn, as_test_response
from tests.api.spec_check import assert_response_matches_spec

pytestmark = pytest.mark.functional

ADMIN_KEY = "functional-admin-key"
LISTED = "listed@example.com"


def admin(service: Gunicorn, method: str, address: str, **body) -> requests.Response:
    response = requests.request(method, f"{service.url}/suppressions/{address}", json=body or None, timeout=15,
                                headers={"X-API-KEY": ADMIN_KEY})
    assert_response_matches_spec(as_test_response(response))
    return response


def send(service: Gunicorn, **fields) -> requests.Response:
    response = service.send(**fields)
    assert_response_matches_spec(as_test_response(response))
    return response


def delivered(fake, subject: str) -> list[dict]:
    return [m for m in fake.control.messages() if m["subject"] == subject]


def checks(service: Gunicorn, result: str) -> float:
    """smsp_suppression_checks_total{result} summed over every worker, from /metrics."""
    text = requests.get(service.url + "/metrics", timeout=10).text
    found = re.search(rf'^smsp_suppression_checks_total{{result="{result}"}} (\S+)$', text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_a_listed_address_gets_nothing_from_any_provider_until_lifted(start_service, clean_fake):
    # One worker, so every request meets the circuit opened below; no probe closes it during the test.
    service = start_service(SMSP_ADMIN_API_KEY=ADMIN_KEY, WEB_CONCURRENCY=1, SMSP_POLL_INTERVAL=30)
    assert admin(service, "PUT", "Listed@Example.com", reason="asked by phone").status_code == 201

    refused = send(service, toaddress=f"Lee <{LISTED.upper()}>", subject="refused")
    assert refused.status_code == 422
    assert [(s["address"], s["reason"], s["provider"]) for s in refused.json()["suppressed"]] == [
        (LISTED.upper(), "manual", None)]

    clean_fake.control.set_fault("mailgun", "status", status=401)  # provably not taken: fails over
    assert send(service, subject="fails over").json()["provider"] == "sendgrid"
    assert set(service.circuit_states("mailgun").values()) == {"open"}
    assert send(service, toaddress=LISTED, subject="refused with mailgun's circuit open").status_code == 422

    assert admin(service, "DELETE", LISTED).status_code == 204
    assert send(service, toaddress=LISTED, subject="lifted").status_code == 200
    assert [m["subject"] for m in clean_fake.control.messages()] == ["fails over", "lifted"]


def test_skip_sends_to_the_others(start_service, clean_fake):
    service = start_service(SMSP_ADMIN_API_KEY=ADMIN_KEY)
    admin(service, "PUT", LISTED, reason="asked")
    response = send(service, toaddress=["ann@example.com", f"Lee <{LISTED}>"], ccaddress="bob@example.com",
                    subject="skip", suppressed="skip")
    assert response.status_code == 200 and response.json()["skipped"] == [LISTED]
    [message] = delivered(clean_fake, "skip")
    assert (message["to"], message["cc"]) == (["ann@example.com"], ["bob@example.com"])


def test_an_address_listed_on_one_pod_is_refused_by_the_other(start_service, clean_fake, redis_server):
    first, second = (start_service(SMSP_ADMIN_API_KEY=ADMIN_KEY, WEB_CONCURRENCY=2,
                                   SMSP_IDEMPOTENCY_STORE=redis_server.url, SMSP_STORE=redis_server.url)
                     for _ in range(2))
    admin(first, "PUT", LISTED, reason="asked")
    assert send(second, toaddress=LISTED, subject="refused").status_code == 422
    assert admin(second, "DELETE", LISTED).status_code == 204
    assert send(first, toaddress=LISTED, subject="lifted").status_code == 200
    assert [m["subject"] for m in clean_fake.control.messages()] == ["lifted"]


def test_with_the_store_stopped_sends_go_out_unchecked_and_are_counted(start_service, clean_fake, redis_server):
    service = start_service(SMSP_ADMIN_API_KEY=ADMIN_KEY, SMSP_IDEMPOTENCY_STORE=redis_server.url,
                            SMSP_STORE=redis_server.url)
    admin(service, "PUT", LISTED, reason="asked")
    assert send(service, toaddress=LISTED, subject="refused").status_code == 422
    errors = checks(service, "store_error")
    redis_server.stop()
    answers = [send(service, toaddress=LISTED, subject=f"unchecked {n}").status_code for n in range(4)]
    assert answers == [200] * 4 and len(clean_fake.control.messages()) == 4
    assert checks(service, "store_error") == errors + 4
    logged = [r for r in service.log_records() if r["message"] == "suppression list unavailable"]
    assert len(logged) == 4 and {r["level"] for r in logged} == {"ERROR"}
    redis_server.start()  # the same port, empty: the entry went with the stopped server
    assert send(service, toaddress=LISTED, subject="back").status_code == 200


def test_with_refuse_and_the_store_stopped_nothing_is_sent(start_service, clean_fake, redis_server):
    service = start_service(SMSP_SUPPRESSION_ON_STORE_ERROR="refuse", SMSP_IDEMPOTENCY_STORE=redis_server.url,
                            SMSP_STORE=redis_server.url)
    assert send(service, subject="checked").status_code == 200
    redis_server.stop()
    refused = send(service, subject="refused")
    assert refused.status_code == 503 and refused.json()["code"] == "suppression_store_unavailable"
    assert refused.headers["Retry-After"] == "1"
    assert [m["subject"] for m in clean_fake.control.messages()] == ["checked"]
