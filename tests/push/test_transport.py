"""One attempt against a real local receiver: every answer, redirect, refusal, hang and trickle as one Answer."""
from __future__ import annotations

import ssl
import threading
import time
from email.utils import formatdate

import pytest
import trustme

from sendmailproxy.push.deadline import Deadlines
from sendmailproxy.push.transport import Answer, PushClient, Result, parse_retry_after
from testkit.ports import free_port
from testkit.pushreceiver import PushReceiver, Reply
from tests.push.conftest import event, settings


def client_for(url: str, secret: str, timeout: float = 1.0) -> tuple[PushClient, Deadlines]:
    deadlines = Deadlines()
    return PushClient(settings(url, secret, timeout=timeout), 2, deadlines), deadlines


def test_a_2xx_is_delivered_signed_and_in_our_format(receiver, secret):
    client, _ = client_for(receiver.url, secret)
    receiver.script = [Reply(204)]
    assert client.post(event(1)) == Answer(Result.DELIVERED, 204)
    [push] = receiver.pushes
    assert push.verified
    assert push.id == event(1).id
    assert abs(push.timestamp - time.time()) < 300  # the attempt's own time (standardwebhooks' tolerance)
    assert push.body == {"type": "email.delivered", "timestamp": event(1).occurred_at, "data": event(1).to_json()}


@pytest.mark.parametrize("status, result", [
    (500, Result.FAILED_STATUS), (400, Result.FAILED_STATUS), (404, Result.FAILED_STATUS),
    (410, Result.GONE), (200, Result.DELIVERED), (202, Result.DELIVERED), (299, Result.DELIVERED),
])
def test_each_status(receiver, secret, status, result):
    client, _ = client_for(receiver.url, secret)
    receiver.script = [Reply(status)]
    assert client.post(event(1)).result is result


def test_a_redirect_is_not_followed(receiver, secret):
    elsewhere = PushReceiver([secret]).start()
    try:
        receiver.script = [Reply(307, headers={"Location": elsewhere.url})]
        client, _ = client_for(receiver.url, secret)
        assert client.post(event(1)) == Answer(Result.FAILED_STATUS, 307, None, "HTTP 307")
        assert elsewhere.pushes == []
    finally:
        elsewhere.stop()


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_or_as_a_date_on_429_and_503(receiver, secret, status):
    client, _ = client_for(receiver.url, secret)
    receiver.script = [Reply(status, headers={"Retry-After": "120"}),
                       Reply(status, headers={"Retry-After": formatdate(time.time() + 3600, usegmt=True)})]
    assert client.post(event(1)).retry_after == 120
    assert 3500 < client.post(event(1)).retry_after <= 3600


def test_retry_after_is_ignored_on_other_statuses(receiver, secret):
    client, _ = client_for(receiver.url, secret)
    receiver.script = [Reply(500, headers={"Retry-After": "120"})]
    assert client.post(event(1)).retry_after is None


@pytest.mark.parametrize("value, seconds", [
    ("0", 0), (" 42 ", 42), ("Thu, 03 Dec 2026 14:00:00 GMT", 600), ("Thu, 03 Dec 2026 13:00:00 GMT", 0),
    ("-5", None), ("soon", None), ("1.5", None), ("", None),
])
def test_parse_retry_after(value, seconds):
    now = 1796306400.0 - 600  # 13:50:00Z, 2026-12-03
    assert parse_retry_after(value, now) == seconds


def test_a_receiver_that_is_down_is_a_connection_error(secret):
    client, _ = client_for(f"http://127.0.0.1:{free_port()}/hooks", secret)
    assert client.post(event(1)).result is Result.CONNECTION_ERROR


def test_a_receiver_that_hangs_is_a_timeout(receiver, secret):
    client, _ = client_for(receiver.url, secret, timeout=0.3)
    receiver.script = [Reply(200, delay=30)]
    assert client.post(event(1)).result is Result.TIMEOUT


def test_a_receiver_that_trickles_is_cut_at_the_deadline(receiver, secret):
    # A byte every 0.1 s never trips the per-read timeout; only the deadline on the whole attempt ends it.
    client, deadlines = client_for(receiver.url, secret, timeout=0.5)
    receiver.script = [Reply(200, trickle=0.1)]
    answers = []
    post = threading.Thread(target=lambda: answers.append(client.post(event(1))))
    post.start()
    while post.is_alive():  # the sender thread's job: cut what is overdue, every tick
        deadlines.cut_overdue()
        post.join(0.05)
    assert answers[0].result is Result.TIMEOUT
    receiver.script = []
    assert client.post(event(2)).result is Result.DELIVERED  # the pool recovers from the cut connection


@pytest.fixture
def tls_receiver(secret, tmp_path, monkeypatch):
    """A receiver on https with a certificate from a CA made here, which the client trusts by REQUESTS_CA_BUNDLE."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))  # read once, as the client is built
    receiver = PushReceiver([secret], tls=context).start()
    yield receiver
    receiver.stop()


def test_over_https_verified_and_cut_at_the_deadline(tls_receiver, secret):
    client, deadlines = client_for(tls_receiver.url, secret, timeout=0.5)
    assert client.post(event(1)).result is Result.DELIVERED
    tls_receiver.script = [Reply(200, trickle=0.1)]
    answers = []
    post = threading.Thread(target=lambda: answers.append(client.post(event(2))))
    post.start()
    while post.is_alive():
        deadlines.cut_overdue()
        post.join(0.05)
    assert answers[0].result is Result.TIMEOUT
    assert client.post(event(3)).result is Result.DELIVERED
    assert [p.verified for p in tls_receiver.pushes] == [True, True, True]
