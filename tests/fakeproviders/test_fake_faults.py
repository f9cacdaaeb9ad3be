"""Faults switched at run time through the control API, for each provider."""

import email.utils
import threading
import time

import pytest
import requests

from fakeproviders.client import FakeProvidersError
from testkit.polling import wait_until

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess

PROVIDERS = ["mailgun", "sendgrid"]


@pytest.fixture
def send(mailgun, sendgrid, mailgun_form, sendgrid_payload):
    """Send a valid message (or a probe) to either provider."""

    def post(provider, probe=False, **kwargs):
        if provider == "mailgun":
            return mailgun(mailgun_form(**({"o:testmode": "yes"} if probe else {})), **kwargs)
        sandbox = {"mail_settings": {"sandbox_mode": {"enable": True}}} if probe else {}
        return sendgrid(sendgrid_payload(**sandbox), **kwargs)

    return post


def accepted_status(provider, probe=False):
    return 200 if provider == "mailgun" or probe else 202


@pytest.mark.parametrize("provider, status", [
    ("mailgun", 500), ("mailgun", 502), ("mailgun", 503), ("mailgun", 403), ("mailgun", 404),
    ("sendgrid", 500), ("sendgrid", 503), ("sendgrid", 401), ("sendgrid", 403),
])
def test_status_fault_answers_that_status_in_the_provider_shape(fake, send, provider, status):
    fake.control.set_fault(provider, "status", status=status)

    response = send(provider)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    if provider == "mailgun":
        assert set(response.json()) == {"message"}
    else:
        [error] = response.json()["errors"]
        assert set(error) == {"message", "field", "help"}
    assert fake.control.messages(probes=None) == []


def test_mailgun_401_fault_is_plain_text(fake, send):
    fake.control.set_fault("mailgun", "status", status=401)

    response = send("mailgun")

    assert (response.status_code, response.text) == (401, "Forbidden")
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("status", [429, 420])
def test_mailgun_rate_limit_names_the_retry_time(fake, send, status):
    fake.control.set_fault("mailgun", "status", status=status, retry_after_s=120)
    before = time.time()

    response = send("mailgun")

    assert response.status_code == status
    prefix = "Domain mg.example.com is not allowed to send: request limit exceeded, try again after "
    message = response.json()["message"]
    assert message.startswith(prefix) and message.endswith(" UTC")
    retry_at = email.utils.parsedate_to_datetime(message[len(prefix):-4] + " +0000").timestamp()
    assert retry_at >= int(before) + 120 - 1


def test_sendgrid_rate_limit_sends_the_headers(fake, send):
    fake.control.set_fault("sendgrid", "status", status=429, retry_after_s=30)
    before = time.time()

    response = send("sendgrid")

    assert response.status_code == 429
    assert response.json()["errors"][0]["message"] == "too many requests"
    assert int(response.headers["X-RateLimit-Limit"]) > 0
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= int(before) + 30


def test_mailgun_not_allowed_is_a_400_about_the_domain(fake, send):
    fake.control.set_fault("mailgun", "not_allowed")

    response = send("mailgun")

    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "Domain mg.example.com is not allowed to send: Free accounts are for test purposes only")


def test_not_allowed_is_mailgun_only(fake):
    with pytest.raises(FakeProvidersError, match="400"):
        fake.control.set_fault("sendgrid", "not_allowed")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_faults_hit_probes_and_invalid_requests_alike(fake, send, provider):
    fake.control.set_fault(provider, "status", status=503)
    url = fake.send_url("mailgun") if provider == "mailgun" else fake.send_url("sendgrid")

    assert send(provider, probe=True).status_code == 503
    assert requests.post(url, timeout=5).status_code == 503
    assert fake.control.messages(probes=None) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hang_reads_the_request_and_never_answers(fake, send, provider):
    fake.control.set_fault(provider, "hang")

    with pytest.raises(requests.ReadTimeout):
        send(provider, timeout=(2, 0.3))

    assert fake.control.stats()[provider]["by_status"] == {"hang": 1}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reset_answers_with_a_tcp_reset(fake, send, provider):
    fake.control.set_fault(provider, "reset")

    with pytest.raises(requests.ConnectionError, match="reset"):
        send(provider)

    assert fake.control.stats()[provider]["by_status"] == {"reset": 1}
    assert fake.control.messages(probes=None) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_lost_reply_delivers_the_message_and_resets_instead_of_answering(fake, send, provider):
    fake.control.set_fault(provider, "lost_reply")

    with pytest.raises(requests.ConnectionError, match="reset"):
        send(provider)

    assert fake.control.stats()[provider]["by_status"] == {"lost_reply": 1}
    [record] = fake.control.messages(probes=None)
    assert record["provider"] == provider and not record["probe"]


def test_mailgun_malformed_is_a_200_with_broken_json(fake, send):
    fake.control.set_fault("mailgun", "malformed")

    response = send("mailgun")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_sendgrid_malformed_is_a_200_without_a_message_id(fake, send):
    fake.control.set_fault("sendgrid", "malformed")

    response = send("sendgrid")

    assert response.status_code == 200
    assert response.text == "<html>oops"
    assert "X-Message-Id" not in response.headers


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stopped_refuses_connections_and_restarting_binds_the_same_port(fake, send, provider):
    with requests.Session() as session:
        assert send(provider, session=session).status_code == accepted_status(provider)
        fake.control.set_fault(provider, "stopped")

        # The kept-alive connection was closed too, so this needs a new one, which is refused.
        with pytest.raises(requests.ConnectionError, match="Connection refused"):
            send(provider, session=session)

        fake.control.set_fault(provider, "ok")
        assert send(provider, session=session).status_code == accepted_status(provider)
    assert fake.control.faults()[provider] == {"mode": "ok", "latency_ms": 0}


def test_stopping_one_provider_leaves_the_other_up(fake, send):
    fake.control.set_fault("mailgun", "stopped")
    assert send("sendgrid").status_code == 202


@pytest.mark.parametrize("provider", PROVIDERS)
def test_latency_delays_the_answer(fake, send, provider):
    fake.control.set_fault(provider, "ok", latency_ms=300)

    started = time.perf_counter()
    response = send(provider)

    assert time.perf_counter() - started >= 0.3
    assert response.status_code == accepted_status(provider)


def test_latency_applies_to_status_faults_too(fake, send):
    fake.control.set_fault("sendgrid", "status", status=500, latency_ms=200)

    started = time.perf_counter()
    assert send("sendgrid").status_code == 500
    assert time.perf_counter() - started >= 0.2


def test_a_slow_provider_does_not_hold_up_other_connections(fake, send):
    fake.control.set_fault("mailgun", "ok", latency_ms=30_000)
    outcome = []

    def send_slowly():
        try:
            outcome.append(send("mailgun", timeout=(2, 60)).status_code)
        except requests.ConnectionError as exc:
            outcome.append(exc)

    slow = threading.Thread(target=send_slowly)
    slow.start()
    try:
        wait_until(lambda: fake.control.stats()["mailgun"]["connections"] == 1, "the slow connection to open")
        assert send("sendgrid").status_code == 202
        assert outcome == []  # the fast answer came while the slow one was still pending
    finally:
        fake.control.set_fault("mailgun", "stopped")  # closes the slow connection: no 30 s wait
        slow.join()
    assert isinstance(outcome[0], requests.ConnectionError)


def test_a_client_that_gives_up_during_latency_may_still_have_sent(fake, send):
    # The ambiguous case of docs/failover.md: a read timeout says nothing about acceptance.
    fake.control.set_fault("mailgun", "ok", latency_ms=300)

    with pytest.raises(requests.ReadTimeout):
        send("mailgun", timeout=(2, 0.05))

    wait_until(lambda: len(fake.control.messages("mailgun")) == 1, "the message to be recorded")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_switching_faults_reaches_a_kept_alive_connection(fake, send, provider):
    ok = accepted_status(provider)
    with requests.Session() as session:
        statuses = [send(provider, session=session).status_code]
        fake.control.set_fault(provider, "status", status=503)
        statuses.append(send(provider, session=session).status_code)
        fake.control.set_fault(provider, "ok")
        statuses.append(send(provider, session=session).status_code)

    assert statuses == [ok, 503, ok]
    stats = fake.control.stats()[provider]
    assert stats["connections"] == 1
    assert stats["by_status"] == {str(ok): 2, "503": 1}
    assert stats["accepted"] == 2


@pytest.mark.parametrize("params, error", [
    ({"mode": "explode"}, "mode must be one of"),
    ({"mode": "status"}, "status must be an integer"),
    ({"mode": "status", "status": "503"}, "status must be an integer"),
    ({"mode": "status", "status": 600}, "status must be an integer"),
    ({"mode": "ok", "latency_ms": -1}, "latency_ms must be a number"),
    ({"mode": "hang", "latency_ms": 10}, "takes no latency_ms"),
    ({"mode": "ok", "status": 500}, "takes no status"),
])
def test_bad_fault_requests_are_refused(fake, params, error):
    with pytest.raises(FakeProvidersError, match=error):
        fake.control.set_fault("mailgun", **params)
    assert fake.control.faults()["mailgun"]["mode"] == "ok"
