"""POST /email with an Idempotency-Key: sent at most once, answers replayed, conflicts and mismatches refused."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from sendmailproxy.idempotency import LEASE_MARGIN_SECONDS
from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.api.support import KEY, MINIMAL, OLD_KEY, nothing_sent

IDEMPOTENCY_KEY = "order-1234/welcome-mail"
ACCEPTED = Outcome(OutcomeKind.ACCEPTED, message_id="<1@mailgun>")
REJECTED = Outcome(OutcomeKind.REJECTED, "bad recipient", status=400)
AMBIGUOUS = Outcome(OutcomeKind.AMBIGUOUS, "provider error (HTTP 503)", status=503)
TIMED_OUT = Outcome(OutcomeKind.AMBIGUOUS, "no answer in time", timed_out=True)
NOT_ACCEPTED = Outcome(OutcomeKind.NOT_ACCEPTED, "credentials problem", status=401)


@pytest.fixture
def keyed(post_email):
    """POST /email with an Idempotency-Key (IDEMPOTENCY_KEY unless told) and any other headers."""
    def post(json=MINIMAL, key=IDEMPOTENCY_KEY, **kwargs):
        headers = {"Idempotency-Key": key, **kwargs.pop("headers", {})}
        return post_email(json, headers=headers, **kwargs)

    return post


def from_another_thread(call):
    """`call()`'s result, run in a thread of its own: a concurrent request, with its own Flask contexts."""
    results = []
    thread = threading.Thread(target=lambda: results.append(call()))
    thread.start()
    thread.join(30)
    return results[0]


def count(result: str) -> float:
    return REGISTRY.get_sample_value("smsp_idempotency_total", {"result": result}) or 0.0


def nothing_sent_since(providers, calls: int) -> bool:
    return sum(len(provider.sent) for provider in providers) == calls


def service_of(app):
    return app.extensions["sendmailproxy"]


def test_a_repeat_is_replayed_and_sent_once(keyed, providers):
    stored = count("stored")
    first = keyed()
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    replayed = count("replayed")
    again = keyed()
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(providers[0].sent) == 1
    assert (count("stored"), count("replayed")) == (stored + 1, replayed + 1)


@pytest.mark.parametrize("respelled", [
    b'{"subject":"test","toaddress":["another@email.com"],"plaintextbody":"test_body","fromaddress":"an@email.com"}',
    b'{"fromaddress":"an@email.com","toaddress":"another@email.com","subject":"test","plaintextbody":"test_body",'
    b'"ccaddress":null,"tags":[],"htmlbody":"","attachments":null}',
    b'{ "fromaddress" : "an@email.com", "toaddress" : "another\\u0040email.com", "subject" : "t\\u0065st",\n'
    b'  "plaintextbody" : "test_body" }',
], ids=["order and a list of one", "nulls and empties", "whitespace and escapes"])
def test_the_same_message_however_spelled_is_a_replay(keyed, providers, respelled):
    keyed()
    again = keyed(data=respelled)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert len(providers[0].sent) == 1


def test_custom_header_order_is_spelling_too(keyed, providers):
    keyed({**MINIMAL, "headers": {"X-A": "1", "X-B": "2"}})
    assert keyed({**MINIMAL, "headers": {"X-B": "2", "X-A": "1"}}).headers["Idempotent-Replayed"] == "true"
    assert len(providers[0].sent) == 1


def test_the_quoted_form_is_the_same_key(keyed, providers):
    keyed(key="abc")
    assert keyed(key='"abc"').headers["Idempotent-Replayed"] == "true"
    assert keyed(key='"a\\"b"').status_code == 200  # a"b, a key of its own
    assert len(providers[0].sent) == 2


@pytest.mark.parametrize("change", [{"subject": "another"}, {"toaddress": "else@example.com"},
                                    {"attachments": [{"filename": "a.txt", "content": "SGVsbG8="}]}])
def test_the_same_key_for_another_message_is_refused(keyed, providers, change):
    mismatches = count("mismatch")
    keyed()
    response = keyed({**MINIMAL, **change})
    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency_key_reused"
    assert "different message" in response.get_json()["message"]
    assert len(providers[0].sent) == 1
    assert count("mismatch") == mismatches + 1


def test_keys_are_scoped_to_the_client_api_key(keyed, providers):
    keyed()
    other_client = keyed(headers={"X-API-KEY": OLD_KEY})
    assert other_client.status_code == 200 and "Idempotent-Replayed" not in other_client.headers
    assert len(providers[0].sent) == 2


@pytest.mark.parametrize("header", ["", " ", "x" * 256, "clé", "tab\there", '"unterminated', '"a"b"', '"bad\\n"'],
                         ids=["empty", "blank", "too long", "not ascii", "control", "open quote", "inner quote",
                              "bad escape"])
def test_a_malformed_key_is_400_and_nothing_is_sent(keyed, providers, header):
    response = keyed(key=header)
    assert response.status_code == 400
    assert response.get_json()["code"] == "idempotency_key_invalid"
    assert nothing_sent(providers)


def test_the_longest_key_and_every_printable_character_are_fine(keyed, providers):
    assert keyed(key="k" * 255).status_code == 200
    assert keyed(key="".join(map(chr, range(0x21, 0x7F)))).status_code == 200


def test_auth_and_validation_failures_store_nothing(keyed, providers):
    assert keyed(headers={"X-API-KEY": "wrong"}).status_code == 401
    assert keyed({**MINIMAL, "toaddress": "not an address"}).status_code == 422
    assert keyed(data=b"{").status_code == 400
    fixed = keyed()
    assert fixed.status_code == 200 and "Idempotent-Replayed" not in fixed.headers
    assert len(providers[0].sent) == 1


@pytest.mark.parametrize("outcome, status", [(REJECTED, 422), (AMBIGUOUS, 502), (TIMED_OUT, 504)],
                         ids=["rejected", "outcome unknown", "timed out"])
def test_definite_and_unknown_outcomes_are_kept_and_never_resent(keyed, providers, outcome, status):
    providers[0].outcome = outcome
    first = keyed()
    assert first.status_code == status
    providers[0].outcome = None  # the provider would accept now: a re-send would go out
    again = keyed()
    assert again.status_code == status and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(providers[0].sent) == 1 and providers[1].sent == []


def test_nothing_sent_anywhere_releases_the_key(keyed, providers):
    released = count("released")
    for provider in providers:
        provider.outcome = NOT_ACCEPTED
    assert keyed().status_code == 502
    assert count("released") == released + 1


def test_every_circuit_open_still_replays_a_kept_answer_and_leaves_a_new_key_free(make_app, keyed, providers):
    first = keyed()
    for provider in providers:
        provider.outcome = NOT_ACCEPTED
    keyed(key="trips-the-circuits")
    calls = sum(len(provider.sent) for provider in providers)

    again = keyed()
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert keyed(key="new-while-all-open").status_code == 503
    assert nothing_sent_since(providers, calls)

    for provider in providers:
        provider.outcome = None
    fresh_worker = make_app()  # its circuits are closed; the store is the same
    retry = fresh_worker.test_client().post("/email", json=MINIMAL,
                                            headers={"X-API-KEY": KEY, "Idempotency-Key": "new-while-all-open"})
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers


def test_after_a_release_the_retry_sends(make_app, providers, keyed):
    providers[0].outcome = NOT_ACCEPTED
    providers[1].outcome = NOT_ACCEPTED
    assert keyed().status_code == 502
    for provider in providers:
        provider.outcome = None
    fresh_worker = make_app()  # its circuits are closed; the store is the same
    response = fresh_worker.test_client().post("/email", json=MINIMAL,
                                      headers={"X-API-KEY": KEY, "Idempotency-Key": IDEMPOTENCY_KEY})
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers


def test_a_repeat_while_the_first_is_sending_is_409(keyed, providers):
    answers = []
    send = providers[0].send

    def send_and_repeat(message):
        answers.append(from_another_thread(keyed))  # a retry arriving while this send is in flight
        return send(message)

    providers[0].send = send_and_repeat
    conflicts = count("conflict")
    assert keyed().status_code == 200
    [repeat] = answers
    assert repeat.status_code == 409 and repeat.headers["Retry-After"] == "1"
    assert repeat.get_json()["code"] == "idempotency_request_in_progress"
    assert count("conflict") == conflicts + 1
    assert len(providers[0].sent) == 1


def test_a_lease_lost_while_sending_turns_into_outcome_unknown(app, keyed, providers):
    service_of(app).idempotency.lease = 0.1
    answers = []
    send = providers[0].send

    def slow_send(message):
        time.sleep(0.2)  # this worker stalls past its lease...
        answers.append(from_another_thread(keyed))  # ...and a retry finds the lease run out while mailgun has it
        return send(message)

    providers[0].send = slow_send
    lost = count("lease_lost")
    first = keyed()
    assert first.status_code == 200, "the client is told the truth even when it cannot be kept"
    assert count("lease_lost") == lost + 1, "the late owner's answer must not overwrite the record"
    later = keyed()
    for response in (answers[0], later):
        assert response.status_code == 502 and response.headers["Idempotent-Replayed"] == "true"
        assert response.get_json()["provider"] == "mailgun"
        assert "may or may not have been sent" in response.get_json()["message"]
    assert len(providers[0].sent) == 1


def test_a_request_stalled_past_its_lease_does_not_fail_over_once_a_retry_gave_the_key_up(app, keyed, providers):
    service_of(app).idempotency.lease = 0.1
    answers = []
    providers[0].outcome = NOT_ACCEPTED

    def refused_slowly(message):
        time.sleep(0.2)  # past the lease; meanwhile a retry finds it run out
        answers.append(from_another_thread(keyed))
        return NOT_ACCEPTED

    providers[0].send = refused_slowly
    response = keyed()
    assert response.status_code == 502 and response.get_json()["provider"] == "mailgun"
    assert answers[0].get_json() == response.get_json()
    assert providers[1].sent == [], "sendgrid must not get a message whose key is already 'outcome unknown'"


def test_the_lease_covers_every_provider_in_turn(app, providers):
    assert service_of(app).idempotency.lease == sum(p.max_send_seconds for p in providers) + LEASE_MARGIN_SECONDS


def test_an_unreachable_store_refuses_keyed_requests_only(make_app, providers, tmp_path):
    errors = count("store_error")
    client = make_app(idempotency_store=f"sqlite://{tmp_path}/missing/directory/db").test_client()
    keyed = client.post("/email", json=MINIMAL, headers={"X-API-KEY": KEY, "Idempotency-Key": "k"})
    assert keyed.status_code == 503 and keyed.headers["Retry-After"] == "1"
    assert keyed.get_json()["code"] == "idempotency_store_unavailable"
    assert nothing_sent(providers)
    assert count("store_error") == errors + 1
    assert client.post("/email", json=MINIMAL, headers={"X-API-KEY": KEY}).status_code == 200
    health = client.get("/healthcheck")
    assert health.status_code == 200
    assert health.get_json()["idempotency"] == {"store": "sqlite", "reachable": False}
    assert health.get_json()["status"] == "degraded"


def test_requests_without_a_key_never_touch_the_store(app, post_email):
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the store's {name} was used by a request without a key")

    object.__setattr__(service_of(app).idempotency, "store", Untouchable())
    assert post_email(MINIMAL).status_code == 200


def test_off_refuses_the_header_so_no_client_believes_it_is_protected(make_app, providers):
    client = make_app(idempotency_store="off").test_client()
    response = client.post("/email", json=MINIMAL, headers={"X-API-KEY": KEY, "Idempotency-Key": "k"})
    assert response.status_code == 400 and response.get_json()["code"] == "idempotency_off"
    assert "off" in response.get_json()["message"]
    assert nothing_sent(providers)
    assert client.post("/email", json=MINIMAL, headers={"X-API-KEY": KEY}).status_code == 200
    assert client.get("/healthcheck").get_json()["idempotency"] == {"store": "off", "reachable": None}


def test_healthcheck_reports_a_reachable_store(client):
    assert client.get("/healthcheck").get_json()["idempotency"] == {"store": "sqlite", "reachable": True}


def test_the_record_holds_hashes_not_keys_or_messages(app, keyed, config):
    keyed(key="customer-42-secretish")
    database = Path(config.idempotency_store.removeprefix("sqlite://"))
    raw = database.read_bytes() + database.with_name(database.name + "-wal").read_bytes()
    for clear in (b"customer-42-secretish", KEY.encode(), b"another@email.com", b"test_body"):
        assert clear not in raw
    assert json.loads(keyed(key="customer-42-secretish").get_data())["provider"] == "mailgun"
