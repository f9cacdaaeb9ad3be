"""Contract: every status swagger.yaml documents, reached over real HTTP against gunicorn and checked.

The (path, method, status) list comes from the spec itself, so a newly documented status fails here until a
way to reach it is added to REACHERS. Bodies and headers are checked by tests/api/spec_check.py, the same
checker the in-process API tests use.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from fakeproviders.signing import SendGridSigner, basic_auth, json_body
from sendmailproxy.docs import load_spec
from testkit.harness import API_KEY, RAISE_HEADER, Gunicorn, as_test_response, provider_env
from testkit.polling import wait_until
from testkit.ports import free_port
from testkit.webhookreceiver import Receiver
from tests.api.spec_check import assert_response_matches_spec
from tests.events.conftest import mailgun_post, sendgrid_post
from tests.events.payloads import mailgun_event, postmark_bounce, sendgrid_event
from tests.functional.test_webhooks import PM_PASSWORD, PM_USER, webhook_env

pytestmark = pytest.mark.functional

MAX_BODY_BYTES = 64 * 1024
UNLISTED_PATH = "/no-such-path"
SPEC = load_spec()


def documented_statuses() -> list[tuple[str, str, int]]:
    """Every (path, METHOD, status) of swagger.yaml, plus the 404/405 its components promise for the rest."""
    cases = [(path, method.upper(), int(status))
             for path, operations in SPEC["paths"].items()
             for method, operation in operations.items()
             for status in operation["responses"]]
    if "NotFound" in SPEC["components"]["responses"]:
        cases.append((UNLISTED_PATH, "GET", 404))
    if "MethodNotAllowed" in SPEC["components"]["responses"]:
        cases.append(("/email", "GET", 405))
    return cases


Reacher = Callable[[Gunicorn, object, str, str], requests.Response]
REACHERS: dict[tuple[str, str, int], list[Reacher]] = {}


def reaches(path: str, method: str, status: int):
    """Register `function(service, fake, path, method)`, which gets `status` from the service."""
    def register(function: Reacher) -> Reacher:
        REACHERS.setdefault((path, method, status), []).append(function)
        return function
    return register


def post_email(service: Gunicorn, body: bytes | None = None, **headers) -> requests.Response:
    headers = {"X-API-KEY": API_KEY, "Content-Type": "application/json", **headers}
    if body is None:
        body = json.dumps({"fromaddress": "sender@example.com", "toaddress": "rcpt@example.com",
                           "subject": f"contract-{uuid.uuid4().hex}", "plaintextbody": "hello"}).encode()
    return requests.post(service.url + "/email", data=body, headers=headers, timeout=15)


def delivered(fake) -> list[dict]:
    return fake.control.messages(probes=False)


@reaches("/email", "POST", 200)
def accepted(service, fake, path, method):
    response = post_email(service)
    [record] = delivered(fake)
    assert (record["provider"], record["id"]) == (response.json()["provider"], response.json()["id"])
    return response


@reaches("/email", "POST", 400)
def not_json(service, fake, path, method):
    return post_email(service, b'{"fromaddress": ')


@reaches("/email", "POST", 401)
def no_key(service, fake, path, method):
    return post_email(service, **{"X-API-KEY": ""})


@reaches("/email", "POST", 413)
def too_large(service, fake, path, method):
    return post_email(service, b" " * (MAX_BODY_BYTES + 1))


@reaches("/email", "POST", 415)
def not_declared_json(service, fake, path, method):
    return post_email(service, **{"Content-Type": "text/plain"})


@reaches("/email", "POST", 422)
def invalid_fields(service, fake, path, method):
    response = post_email(service, json.dumps({"fromaddress": "sender@example.com"}).encode())
    assert set(response.json()["errors"]) >= {"toaddress", "subject"}
    return response


@reaches("/email", "POST", 422)
def rejected_by_provider(service, fake, path, method):
    # Our validator is meant to refuse whatever a provider would, so no valid message is refused by the
    # fake; a Mailgun 400 stands in for the rare rejection that slips through.
    fake.control.set_fault("mailgun", "status", status=400)
    response = post_email(service)
    assert response.json()["provider"] == "mailgun"
    assert delivered(fake) == [], "a rejected message must not be tried elsewhere"
    return response


@reaches("/email", "POST", 500)
@reaches("/webhooks/mailgun", "POST", 500)
@reaches("/webhooks/sendgrid", "POST", 500)
@reaches("/webhooks/ses", "POST", 500)
@reaches("/webhooks/postmark", "POST", 500)
@reaches("/events", "GET", 500)
@reaches("/healthcheck", "GET", 500)
@reaches("/swagger.json", "GET", 500)
@reaches("/metrics", "GET", 500)
def unexpected_exception(service, fake, path, method):
    # Only reachable by injection: see tests/functional/faulty_wsgi.py.
    response = requests.request(method, service.url + path, timeout=15,
                                headers={RAISE_HEADER: "1", "X-API-KEY": API_KEY})
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    return response


@reaches("/email", "POST", 502)
def outcome_unknown(service, fake, path, method):
    fake.control.set_fault("mailgun", "status", status=503)
    response = post_email(service)
    assert response.json()["provider"] == "mailgun" and "may or may not" in response.json()["message"]
    assert delivered(fake) == [], "an ambiguous failure must not be re-sent elsewhere"
    return response


@reaches("/email", "POST", 502)
def every_provider_failed(service, fake, path, method):
    for provider in ("mailgun", "sendgrid"):
        fake.control.set_fault(provider, "stopped")
    response = post_email(service)
    assert "provider" not in response.json()
    return response


@reaches("/email", "POST", 503)
def every_circuit_open(service, fake, path, method):
    for provider in ("mailgun", "sendgrid"):
        fake.control.set_fault(provider, "status", status=401)  # probes fail too: the circuits stay open
    assert post_email(service).status_code == 502
    response = post_email(service)
    assert response.json()["retry_after"] == int(response.headers["Retry-After"])
    return response


@reaches("/email", "POST", 504)
def provider_timeout(service, fake, path, method):
    fake.control.set_fault("mailgun", "hang")
    response = post_email(service)
    assert response.json()["provider"] == "mailgun"
    assert delivered(fake) == []
    return response


# Idempotency-Key: after the other reachers of each status, each starting from a settled service.
@reaches("/email", "POST", 400)
def malformed_idempotency_key(service, fake, path, method):
    response = post_email(service, **{"Idempotency-Key": "k" * 256})
    assert response.json()["code"] == "idempotency_key_invalid" and delivered(fake) == []
    return response


def settled(service, fake) -> None:
    """No fault, every circuit closed and no record: an earlier reacher of the same status may have tripped one."""
    fake.control.reset_faults()
    wait_until(lambda: {*service.circuit_states("mailgun").values(), *service.circuit_states("sendgrid").values()}
               == {"closed"}, "every circuit to close", 15)
    fake.control.clear()


def keyed_message() -> tuple[bytes, dict]:
    """A body with a fresh subject, and headers with a fresh Idempotency-Key."""
    body = json.dumps({"fromaddress": "sender@example.com", "toaddress": "rcpt@example.com",
                       "subject": f"contract-{uuid.uuid4().hex}", "plaintextbody": "hello"}).encode()
    return body, {"Idempotency-Key": uuid.uuid4().hex}


@reaches("/email", "POST", 200)
def replayed(service, fake, path, method):
    settled(service, fake)
    body, key = keyed_message()
    first = post_email(service, body, **key)
    response = post_email(service, body, **key)
    assert response.headers["Idempotent-Replayed"] == "true" and response.json() == first.json()
    assert len(delivered(fake)) == 1
    return response


@reaches("/email", "POST", 409)
def idempotent_request_in_progress(service, fake, path, method):
    settled(service, fake)
    fake.control.set_fault("mailgun", "ok", latency_ms=800)  # below the service's 1 s provider timeout
    body, key = keyed_message()
    start = threading.Barrier(3)

    def send(_):
        start.wait()
        return post_email(service, body, **key)

    with ThreadPoolExecutor(3) as pool:  # released together, so the first's 800 ms send overlaps the others
        answers = list(pool.map(send, range(3)))
    conflicts = [answer for answer in answers if answer.status_code == 409]
    assert conflicts and len(delivered(fake)) == 1, [answer.text for answer in answers]
    assert conflicts[0].json()["code"] == "idempotency_request_in_progress"
    return conflicts[0]


@reaches("/email", "POST", 422)
def idempotency_key_reused(service, fake, path, method):
    settled(service, fake)
    body, key = keyed_message()
    post_email(service, body, **key)
    response = post_email(service, **key)  # another subject, the same key
    assert response.json()["code"] == "idempotency_key_reused" and len(delivered(fake)) == 1
    return response


@reaches("/email", "POST", 502)
def outcome_unknown_replayed(service, fake, path, method):
    settled(service, fake)
    fake.control.set_fault("mailgun", "lost_reply")
    body, key = keyed_message()
    first = post_email(service, body, **key)
    response = post_email(service, body, **key)
    assert response.headers["Idempotent-Replayed"] == "true" and response.json() == first.json()
    assert len(delivered(fake)) == 1, "delivered once, its answer lost, and never sent again"
    return response


@contextlib.contextmanager
def temporary_service(fake, **env) -> Iterator[Gunicorn]:
    """A one-worker service of its own, for a status the module's service cannot give; stopped after."""
    with tempfile.TemporaryDirectory() as directory:
        other = Gunicorn(provider_env(fake, WEB_CONCURRENCY=1, **env), Path(directory) / "gunicorn.log").start()
        try:
            yield other
        finally:
            other.stop()


@reaches("/email", "POST", 503)
def idempotency_store_unreachable(service, fake, path, method):
    with temporary_service(fake, SMSP_IDEMPOTENCY_STORE=f"redis://127.0.0.1:{free_port()}/0") as down:
        response = post_email(down, **{"Idempotency-Key": "k"})
    assert response.json()["code"] == "idempotency_store_unavailable" and delivered(fake) == []
    return response


# Webhooks (issue 19). The module's service has every webhook on, SendGrid's verified with SENDGRID's key.
SENDGRID = SendGridSigner()
WEBHOOKS = ("/webhooks/mailgun", "/webhooks/sendgrid", "/webhooks/ses", "/webhooks/postmark")


def signed_webhook(fake, path: str) -> tuple[bytes, dict]:
    """A request the webhook at `path` takes, signed as its provider signs (SES: the fake SNS's subscription
    confirmation, its SubscribeURL good once)."""
    if path == "/webhooks/mailgun":
        event = mailgun_event("delivered", id=uuid.uuid4().hex)
        return mailgun_post(event, time.time(), uuid.uuid4().hex, fake.options["mailgun_webhook_key"]), JSON
    if path == "/webhooks/sendgrid":
        return sendgrid_post(SENDGRID, [sendgrid_event("delivered", sg_event_id=uuid.uuid4().hex)], time.time())
    if path == "/webhooks/postmark":
        return json_body(postmark_bounce("HardBounce")), {**JSON, "Authorization": basic_auth(PM_USER, PM_PASSWORD)}
    return captured_subscription(fake)


def captured_subscription(fake) -> tuple[bytes, dict]:
    """The fake SNS's signed SubscriptionConfirmation, caught rather than delivered."""
    receiver = Receiver()
    try:
        fake.control.subscribe(receiver.url + "ses", signature_version="2")
    finally:
        receiver.close()
    [(_, _, body)] = receiver.posts
    return body, {"Content-Type": "text/plain; charset=UTF-8"}


def post_webhook(service: Gunicorn, path: str, body: bytes, headers: dict) -> requests.Response:
    return requests.post(service.url + path, data=body, headers=headers, timeout=15)


JSON = {"Content-Type": "application/json"}
UNSIGNED_SNS = json_body({"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                          "Message": "{}", "Timestamp": "2026-12-03T12:13:20.000Z"})
MALFORMED = {"/webhooks/mailgun": (b"not json", JSON),
             "/webhooks/sendgrid": (b"not json", SENDGRID.headers(b"not json", int(time.time()))),
             "/webhooks/ses": (b"not json", {"Content-Type": "text/plain"}),
             "/webhooks/postmark": (b"[]", {**JSON, "Authorization": basic_auth(PM_USER, PM_PASSWORD)})}
UNAUTHENTICATED = {"/webhooks/mailgun": (mailgun_post(mailgun_event("delivered"), time.time(), key="wrong"), JSON),
                   "/webhooks/sendgrid": (json_body([sendgrid_event("delivered")]), JSON),
                   "/webhooks/ses": (UNSIGNED_SNS, {"Content-Type": "text/plain"}),
                   "/webhooks/postmark": (b"{}", {**JSON, "Authorization": basic_auth(PM_USER, "guess")})}


def webhook_reaches(status: int):
    """Register the reacher for `status` on every webhook path."""
    def register(function: Reacher) -> Reacher:
        for path in WEBHOOKS:
            reaches(path, "POST", status)(function)
        return function
    return register


@webhook_reaches(200)
def webhook_accepted(service, fake, path, method):
    return post_webhook(service, path, *signed_webhook(fake, path))


@webhook_reaches(400)
def webhook_malformed(service, fake, path, method):
    return post_webhook(service, path, *MALFORMED[path])


@webhook_reaches(401)
def webhook_unauthenticated(service, fake, path, method):
    return post_webhook(service, path, *UNAUTHENTICATED[path])


@webhook_reaches(404)
def webhook_off(service, fake, path, method):
    with temporary_service(fake) as off:  # no webhook secret set
        return post_webhook(off, path, *signed_webhook(fake, path))


@webhook_reaches(413)
def webhook_too_large(service, fake, path, method):
    return post_webhook(service, path, b" " * (MAX_BODY_BYTES + 1), JSON)


@webhook_reaches(503)
def webhook_unavailable(service, fake, path, method):
    # The store down; for SES's subscription confirmation, which stores nothing, SNS's certificate out of reach
    # (the fake's CA is not trusted).
    ca = requests.certs.where() if path == "/webhooks/ses" else fake.options["smtp_ca_file"]
    env = webhook_env(fake, SMSP_SG_WEBHOOK_PUBLIC_KEY=SENDGRID.public_key, REQUESTS_CA_BUNDLE=ca,
                      SSL_CERT_FILE=ca, SMSP_STORE=f"redis://127.0.0.1:{free_port()}/0")
    with temporary_service(fake, **env) as down:
        return post_webhook(down, path, *signed_webhook(fake, path))
@reaches("/events", "GET", 200)
def read_events(service, fake, path, method):
    response = requests.get(service.url + "/events", params={"limit": 10}, headers={"X-API-KEY": API_KEY},
                            timeout=15)
    assert response.json()["next"]
    return response


@reaches("/events", "GET", 401)
def read_events_without_a_key(service, fake, path, method):
    return requests.get(service.url + "/events", timeout=15)


@reaches("/events", "GET", 422)
def read_events_with_a_bad_query(service, fake, path, method):
    response = requests.get(service.url + "/events", params={"limit": 0, "recipeint": "a@example.com"},
                            headers={"X-API-KEY": API_KEY}, timeout=15)
    assert set(response.json()["errors"]) == {"limit", "recipeint"}
    return response


@reaches("/events", "GET", 503)
def events_store_unreachable(service, fake, path, method):
    with temporary_service(fake, SMSP_STORE=f"redis://127.0.0.1:{free_port()}/0") as down:  # the events' store
        response = requests.get(down.url + "/events", headers={"X-API-KEY": API_KEY}, timeout=15)
    assert response.json()["code"] == "events_store_unavailable"
    return response


@reaches("/healthcheck", "GET", 200)
@reaches("/swagger.json", "GET", 200)
@reaches("/metrics", "GET", 200)
@reaches("/docs", "GET", 200)
def plain_get(service, fake, path, method):
    return requests.get(service.url + path, timeout=15)


@reaches(UNLISTED_PATH, "GET", 404)
def unlisted_path(service, fake, path, method):
    return requests.get(service.url + UNLISTED_PATH, timeout=15)


@reaches("/email", "GET", 405)
def unlisted_method(service, fake, path, method):
    response = requests.get(service.url + "/email", timeout=15)
    assert response.headers["Allow"] == "POST"
    return response


# The suppression list (issue 20): the send check and the admin API.
ADMIN_KEY = "contract-admin-key"
SUPPRESSIONS, ENTRY = "/suppressions", "/suppressions/{address}"


def admin(service: Gunicorn, method: str, path: str, key: str | None = ADMIN_KEY, **kwargs) -> requests.Response:
    headers = {**({"X-API-KEY": key} if key else {}), **kwargs.pop("headers", {})}
    return requests.request(method, service.url + path, headers=headers, timeout=15, **kwargs)


def store_down(**env) -> dict[str, str]:
    """temporary_service's environment for a store that is a Redis port where nothing listens."""
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    return {"SMSP_IDEMPOTENCY_STORE": nobody_listens, "SMSP_STORE": nobody_listens, "SMSP_ADMIN_API_KEY": ADMIN_KEY,
            **env}


@reaches("/email", "POST", 422)
def recipients_suppressed(service, fake, path, method):
    address = f"bounced-{uuid.uuid4().hex}@example.com"
    assert admin(service, "PUT", f"/suppressions/{address}", json={"reason": "contract"}).status_code == 201
    before = len(delivered(fake))
    response = post_email(service, json.dumps({"fromaddress": "sender@example.com", "toaddress": address,
                                               "subject": "suppressed", "plaintextbody": "hello"}).encode())
    assert response.json()["code"] == "recipients_suppressed" and len(delivered(fake)) == before
    return response


@reaches("/email", "POST", 503)
def suppression_store_unreachable(service, fake, path, method):
    before = len(delivered(fake))
    with temporary_service(fake, **store_down(SMSP_SUPPRESSION_ON_STORE_ERROR="refuse")) as down:
        response = post_email(down)
    assert response.json()["code"] == "suppression_store_unavailable" and len(delivered(fake)) == before
    return response


@reaches(SUPPRESSIONS, "GET", 200)
def list_suppressions(service, fake, path, method):
    return admin(service, method, SUPPRESSIONS + "?limit=2")


@reaches(ENTRY, "GET", 200)
@reaches(ENTRY, "PUT", 200)
@reaches(ENTRY, "DELETE", 204)
def on_a_listed_address(service, fake, path, method):
    address = f"listed-{uuid.uuid4().hex}@example.com"
    assert admin(service, "PUT", f"/suppressions/{address}", json={"reason": "contract"}).status_code == 201
    return admin(service, method, f"/suppressions/{address}", json={"reason": "again"} if method == "PUT" else None)


@reaches(ENTRY, "PUT", 201)
def listed_by_hand(service, fake, path, method):
    return admin(service, method, f"/suppressions/new-{uuid.uuid4().hex}@example.com", json={"reason": "contract"})


@reaches(ENTRY, "GET", 404)
@reaches(ENTRY, "DELETE", 404)
def not_listed(service, fake, path, method):
    return admin(service, method, f"/suppressions/never-{uuid.uuid4().hex}@example.com")


@reaches(SUPPRESSIONS, "GET", 401)
@reaches(ENTRY, "GET", 401)
@reaches(ENTRY, "PUT", 401)
@reaches(ENTRY, "DELETE", 401)
def no_admin_key(service, fake, path, method):
    return admin(service, method, path.replace("{address}", "ann@example.com"), key=None)


@reaches(SUPPRESSIONS, "GET", 403)
@reaches(ENTRY, "GET", 403)
@reaches(ENTRY, "PUT", 403)
@reaches(ENTRY, "DELETE", 403)
def a_client_key_on_the_admin_api(service, fake, path, method):
    return admin(service, method, path.replace("{address}", "ann@example.com"), key=API_KEY)


@reaches(SUPPRESSIONS, "GET", 422)
@reaches(ENTRY, "GET", 422)
@reaches(ENTRY, "PUT", 422)
@reaches(ENTRY, "DELETE", 422)
def not_one_address_or_a_bad_limit(service, fake, path, method):
    target = SUPPRESSIONS + "?limit=0" if path == SUPPRESSIONS else "/suppressions/Ann <ann@example.com>"
    return admin(service, method, target, json={"reason": "r"} if method == "PUT" else None)


@reaches(ENTRY, "PUT", 400)
def a_put_body_not_json(service, fake, path, method):
    return admin(service, method, "/suppressions/ann@example.com", data=b'{"reason": ',
                 headers={"Content-Type": "application/json"})


@reaches(ENTRY, "PUT", 413)
def a_put_body_too_large(service, fake, path, method):
    return admin(service, method, "/suppressions/ann@example.com", json={"reason": "r" * 5000})


@reaches(ENTRY, "PUT", 415)
def a_put_body_not_declared_json(service, fake, path, method):
    return admin(service, method, "/suppressions/ann@example.com", data=b"reason=r",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})


@reaches(SUPPRESSIONS, "GET", 500)
@reaches(ENTRY, "GET", 500)
@reaches(ENTRY, "PUT", 500)
@reaches(ENTRY, "DELETE", 500)
def admin_unexpected_exception(service, fake, path, method):
    response = admin(service, method, path.replace("{address}", "ann@example.com"), headers={RAISE_HEADER: "1"})
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    return response


@reaches(SUPPRESSIONS, "GET", 503)
@reaches(ENTRY, "GET", 503)
@reaches(ENTRY, "PUT", 503)
@reaches(ENTRY, "DELETE", 503)
def admin_store_unreachable(service, fake, path, method):
    with temporary_service(fake, **store_down()) as down:
        response = admin(down, method, path.replace("{address}", "ann@example.com"),
                         json={"reason": "r"} if method == "PUT" else None)
    assert response.json()["code"] == "suppression_store_unavailable"
    return response


@pytest.fixture(scope="module")
def service(start_module_service, fake):
    # One worker, so a circuit opened by one request is the one the next request meets. A 401 is probed once
    # per SMSP_POLL_MAX_INTERVAL: short, so circuits close again between tests.
    return start_module_service(app="tests.functional.faulty_wsgi:app", WEB_CONCURRENCY=1,
                                SMSP_MAX_BODY_BYTES=MAX_BODY_BYTES, SMSP_POLL_INTERVAL=0.5,
                                SMSP_POLL_MAX_INTERVAL=1, SMSP_PROVIDER_TIMEOUT=1, SMSP_ADMIN_API_KEY=ADMIN_KEY,
                                **webhook_env(fake, SMSP_SG_WEBHOOK_PUBLIC_KEY=SENDGRID.public_key))


@pytest.fixture
def healthy(service, fake):
    """Both providers ok, no records, and every circuit closed, before and after the test."""
    def settle():
        fake.control.reset_faults()
        wait_until(lambda: set(service.circuit_states("mailgun").values()) == {"closed"}
                   and set(service.circuit_states("sendgrid").values()) == {"closed"}, "every circuit to close", 15)
        fake.control.clear()

    settle()
    yield fake
    settle()


def test_every_reacher_reaches_a_documented_status():
    assert set(REACHERS) <= set(documented_statuses()), "a case for a status swagger.yaml does not document"


@pytest.mark.parametrize("path, method, status", documented_statuses(),
                         ids=lambda value: str(value).strip("/") or "root")
def test_documented_status_is_reached_with_its_documented_body(service, healthy, path, method, status):
    reachers = REACHERS.get((path, method, status))
    assert reachers, f"swagger.yaml documents {status} for {method} {path}, and no functional test reaches it"
    for reacher in reachers:
        response = reacher(service, healthy, path, method)
        assert response.status_code == status, f"{reacher.__name__}: {response.status_code} {response.text}"
        assert_response_matches_spec(as_test_response(response))
        healthy.control.reset_faults()
