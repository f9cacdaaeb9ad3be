"""The control API, the HTTP plumbing under every fake provider, and the command line."""

import gzip
import json
import signal
import socket
from urllib.parse import urlsplit

import pytest
import requests

from fakeproviders import FAKES
from fakeproviders.client import FakeProviders, FakeProvidersError, run_fake_providers
from testkit.ports import free_port

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send raw bytes and read until the server closes the connection."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_healthz(fake):
    assert requests.get(f"{fake.control.url}/healthz", timeout=5).json() == {"status": "ok"}


def test_faults_start_ok(fake):
    assert fake.control.faults() == {name: {"mode": "ok", "latency_ms": 0} for name in FAKES}


def test_set_fault_reports_what_it_applied(fake):
    assert fake.control.set_fault("sendgrid", "status", status=429) == {
        "mode": "status", "status": 429, "latency_ms": 0, "retry_after_s": 10}
    assert fake.control.faults()["sendgrid"]["mode"] == "status"
    fake.control.reset_faults()
    assert fake.control.faults()["sendgrid"] == {"mode": "ok", "latency_ms": 0}


@pytest.mark.parametrize("method, path, body, status", [
    ("PUT", "/faults/nosuch", {"mode": "ok"}, 404),
    ("PUT", "/faults/mailgun", [], 400),
    ("GET", "/nowhere", None, 404),
    ("POST", "/stats", None, 405),
    ("GET", "/messages?provider=nosuch", None, 400),
    ("GET", "/messages?probes=maybe", None, 400),
])
def test_bad_control_requests(fake, method, path, body, status):
    response = requests.request(method, fake.control.url + path, json=body, timeout=5)
    assert response.status_code == status
    assert "error" in response.json()


def test_invalid_json_is_a_400(fake):
    response = requests.put(f"{fake.control.url}/faults/mailgun", data="{", timeout=5)
    assert response.status_code == 400


def test_messages_filter_by_provider_and_probe(fake, mailgun, sendgrid, mailgun_form, sendgrid_payload):
    mailgun(mailgun_form())
    mailgun(mailgun_form(**{"o:testmode": "yes"}))
    sendgrid(sendgrid_payload())
    sendgrid(sendgrid_payload(mail_settings={"sandbox_mode": {"enable": True}}))

    control = fake.control
    assert [m["provider"] for m in control.messages()] == ["mailgun", "sendgrid"]
    assert [m["probe"] for m in control.messages(probes=None)] == [False, True, False, True]
    assert [m["provider"] for m in control.messages(probes=True)] == ["mailgun", "sendgrid"]
    assert [m["probe"] for m in control.messages("sendgrid", probes=None)] == [False, True]
    for record in control.messages(probes=None):
        assert set(record) == {"provider", "id", "probe", "from", "to", "cc", "bcc", "subject",
                               "text", "html", "reply_to", "headers", "tags", "attachments",
                               "variables", "received_at"}


def test_stats_count_requests_by_status_and_clear_forgets(fake, mailgun, sendgrid, mailgun_form,
                                                           sendgrid_payload):
    mailgun(mailgun_form())
    mailgun({})
    sendgrid(sendgrid_payload(mail_settings={"sandbox_mode": {"enable": True}}))

    stats = fake.control.stats()
    assert stats["mailgun"] == {"requests": 2, "by_status": {"200": 1, "400": 1}, "connections": 2,
                                "accepted": 1, "probes": 0}
    assert stats["sendgrid"] == {"requests": 1, "by_status": {"200": 1}, "connections": 1,
                                 "accepted": 0, "probes": 1}

    fake.control.clear()
    assert fake.control.messages(probes=None) == []
    assert fake.control.stats()["mailgun"] == {"requests": 0, "by_status": {}, "connections": 0,
                                               "accepted": 0, "probes": 0}


def test_control_errors_raise_in_the_client(fake):
    with pytest.raises(FakeProvidersError, match="404"):
        FakeProviders(fake.control.url).set_fault("nosuch", "ok")


def _chunks(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_chunked_request_bodies(fake, mailgun, sendgrid, sendgrid_payload):
    form = b"from=a%40example.com&to=b%40example.com&text=" + b"x" * 5000
    payload = json.dumps(sendgrid_payload()).encode()

    assert mailgun(_chunks(form, 1000), headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
    assert sendgrid(data=_chunks(payload, 7), headers={
        "Authorization": "Bearer sg-test-key", "Content-Type": "application/json"}).status_code == 202
    [record] = fake.control.messages("mailgun")
    assert record["text"] == "x" * 5000


def test_gzip_request_bodies(fake, sendgrid, sendgrid_payload):
    headers = {"Authorization": "Bearer sg-test-key", "Content-Type": "application/json"}
    body = json.dumps(sendgrid_payload()).encode()

    assert sendgrid(data=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"}
                    ).status_code == 202
    assert sendgrid(data=body, headers={**headers, "Content-Encoding": "br"}).status_code == 400


def test_keep_alive_serves_many_requests_on_one_connection(fake, mailgun, mailgun_form):
    with requests.Session() as session:
        for _ in range(5):
            assert mailgun(mailgun_form(), session=session).status_code == 200
    assert fake.control.stats()["mailgun"]["connections"] == 1


def test_connection_close_is_honoured(fake):
    reply = raw_exchange(fake.urls["sendgrid"], b"GET /v3/mail/send HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 405 ")
    assert b"\r\nConnection: close\r\n" in reply


def test_expect_100_continue(fake):
    body = b"from=a%40example.com&to=b%40example.com&text=hi"
    address = urlsplit(fake.urls["mailgun"])
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(b"POST /v3/mg.example.com/messages HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Basic YXBpOm1nLXRlc3Qta2V5\r\nExpect: 100-continue\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("request_bytes, status", [
    (b"NONSENSE\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nContent-Length: nine\r\n\r\n", b"400"),
    (b"GET / HTTP/2.0\r\n\r\n", b"505"),
])
def test_broken_http_gets_an_error_and_a_close(fake, request_bytes, status):
    assert raw_exchange(fake.urls["mailgun"], request_bytes).startswith(b"HTTP/1.1 " + status)


def test_cli_options_and_a_clean_exit_on_sigterm():
    ports = {name: free_port() for name in ("mailgun_port", "sendgrid_port", "control_port")}
    with run_fake_providers(mailgun_domain="mail.test.org", mailgun_key="k1", sendgrid_key="k2",
                            **ports) as running:
        assert running.urls["mailgun"] == f"http://127.0.0.1:{ports['mailgun_port']}"
        assert running.urls["sendgrid"] == f"http://127.0.0.1:{ports['sendgrid_port']}"
        assert running.control.url == f"http://127.0.0.1:{ports['control_port']}"
        response = requests.post(running.send_url("mailgun"), auth=("api", "k1"), timeout=5, data={
            "from": "a@example.com", "to": "b@example.com", "text": "hi"})
        assert response.json()["id"].endswith("@mail.test.org>")
        response = requests.post(running.send_url("sendgrid"), timeout=5,
                                 headers={"Authorization": "Bearer k1"}, json={})
        assert response.status_code == 401
    assert running.process.returncode == 0


def test_binds_only_the_given_host(fake):
    port = urlsplit(fake.urls["mailgun"]).port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=5).close()


def test_sigint_exits_cleanly():
    with run_fake_providers() as running:
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(5) == 0
