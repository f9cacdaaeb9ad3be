"""Every provider answer and transport failure ends in exactly one outcome class, with no secret in it."""
import copy
import dataclasses
import email.utils
import socket
import ssl
import struct
import threading
import time

import pytest
import requests
from urllib3.connection import HTTPConnection
from urllib3.exceptions import (MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError,
                                ReadTimeoutError)
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError

from sendmailproxy.message import Address, Message
from sendmailproxy.providers import MailgunProvider, OutcomeKind, SendGridProvider

ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS
URLS = {MailgunProvider: "https://api.mailgun.net/v3/mg.example.com/messages",
        SendGridProvider: "https://api.sendgrid.com/v3/mail/send"}
MESSAGE = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t")


# Reset times are absolute, so a row stays right however long after collection it runs.
NOW = int(time.time())
SOON, LATER, PAST = NOW + 3600, NOW + 7200, NOW - 60


def limited(reset_at):
    date = email.utils.formatdate(reset_at, usegmt=True).replace("GMT", "UTC")
    return {"message": f"Domain mg.example.com is not allowed to send: request limit exceeded, try again after {date}"}


def sg_errors(*errors):
    return {"errors": [{"message": m, "field": f, "help": None} for m, f in errors]}


# (id, status, `responses` keyword arguments, expected outcome fields).
MAILGUN_ANSWERS = [
    ("200 queued", 200, {"json": {"id": "<1.2@mg.example.com>", "message": "Queued. Thank you."}},
     {"kind": ACCEPTED, "message_id": "<1.2@mg.example.com>"}),
    ("200 magnificent", 200, {"body": "Mailgun Magnificent API"}, {"kind": NOT_ACCEPTED, "reason_has": "Magnificent"}),
    ("200 garbage", 200, {"body": "<html>proxy page</html>"}, {"kind": AMBIGUOUS}),
    ("200 json without id", 200, {"json": {"message": "Queued. Thank you."}}, {"kind": AMBIGUOUS}),
    ("200 not queued", 200, {"json": {"id": "<x>", "message": "Something else"}}, {"kind": AMBIGUOUS}),
    ("202", 202, {"json": {"id": "<x>", "message": "Queued. Thank you."}}, {"kind": AMBIGUOUS}),
    ("307 redirect", 307, {"headers": {"Location": "https://elsewhere.example/"}}, {"kind": NOT_ACCEPTED}),
    ("400 content", 400, {"json": {"message": "to parameter is not a valid address. please check documentation"}},
     {"kind": REJECTED, "reason": "to parameter is not a valid address. please check documentation"}),
    ("400 not allowed", 400, {"json": {"message": "Domain mg.example.com is not allowed to send: Free accounts are "
                                                  "for test purposes only"}}, {"kind": NOT_ACCEPTED}),
    ("401 text body", 401, {"body": "Forbidden"}, {"kind": NOT_ACCEPTED, "reason_has": "credentials"}),
    ("402", 402, {"json": {"message": "Request failed"}}, {"kind": NOT_ACCEPTED}),
    ("403", 403, {"json": {"message": "Domain mg.example.com is not allowed to send large batches yet"}},
     {"kind": NOT_ACCEPTED, "reason_has": "permission"}),
    ("404", 404, {"json": {"message": "Domain not found: mg.example.com"}}, {"kind": NOT_ACCEPTED}),
    ("413", 413, {"json": {"message": "request size exceeds 52.4MiB limit"}},
     {"kind": REJECTED, "reason": "request size exceeds 52.4MiB limit"}),
    ("418 other 4xx", 418, {"body": "teapot"}, {"kind": NOT_ACCEPTED}),
    ("420 date in text", 420, {"json": limited(SOON)}, {"kind": NOT_ACCEPTED, "retry_at": SOON}),
    ("429 date in text", 429, {"json": limited(LATER)}, {"kind": NOT_ACCEPTED, "retry_at": LATER}),
    ("429 past date", 429, {"json": limited(PAST)}, {"kind": NOT_ACCEPTED, "retry_after": 0}),
    ("429 retry-after wins", 429, {"json": limited(LATER), "headers": {"Retry-After": "30"}},
     {"kind": NOT_ACCEPTED, "retry_after": 30}),
    ("429 no hint", 429, {"json": {"message": "Too many requests"}}, {"kind": NOT_ACCEPTED, "retry_after": None}),
] + [(f"{s}", s, {"body": "<html>Bad Gateway</html>"}, {"kind": AMBIGUOUS}) for s in (500, 502, 503, 504)]

SENDGRID_ANSWERS = [
    ("202", 202, {"headers": {"X-Message-Id": "abc"}}, {"kind": ACCEPTED, "message_id": "abc"}),
    ("202 without id", 202, {}, {"kind": ACCEPTED, "message_id": None}),
    ("200", 200, {"body": "<html>oops"}, {"kind": AMBIGUOUS}),  # sandbox mode's answer; probes expect it
    ("201", 201, {}, {"kind": AMBIGUOUS}),
    ("302 redirect", 302, {"headers": {"Location": "https://elsewhere.example/"}}, {"kind": NOT_ACCEPTED}),
    ("400", 400, {"json": sg_errors(("Invalid email", "personalizations.0.to.0.email"), ("Bad subject", None))},
     {"kind": REJECTED, "reason": "Invalid email (field: personalizations.0.to.0.email); Bad subject"}),
    ("400 odd body", 400, {"json": {"message": "Bad Request", "field": None, "help": None}},
     {"kind": REJECTED, "reason_has": "Bad Request"}),
    ("401", 401, {"json": sg_errors(("The provided authorization grant is invalid, expired, or revoked", None))},
     {"kind": NOT_ACCEPTED, "reason_has": "credentials"}),
    ("403", 403, {"json": sg_errors(("The from address does not match a verified Sender Identity.", "from"))},
     {"kind": NOT_ACCEPTED, "reason_has": "permission"}),
    ("413", 413, {"json": sg_errors(("content too large", None))}, {"kind": REJECTED, "reason": "content too large"}),
    ("429 reset header", 429, {"headers": {"X-RateLimit-Reset": str(SOON)}}, {"kind": NOT_ACCEPTED, "retry_at": SOON}),
    ("429 past reset", 429, {"headers": {"X-RateLimit-Reset": str(PAST)}}, {"kind": NOT_ACCEPTED, "retry_after": 0}),
    ("429 retry-after", 429, {"headers": {"Retry-After": "5"}}, {"kind": NOT_ACCEPTED, "retry_after": 5}),
    ("429 no hint", 429, {"json": sg_errors(("too many requests", None))}, {"kind": NOT_ACCEPTED, "retry_after": None}),
] + [(f"{s}", s, {}, {"kind": NOT_ACCEPTED}) for s in (404, 405, 406, 415, 451)] + [
    (f"{s}", s, {}, {"kind": AMBIGUOUS}) for s in (500, 502, 503, 504)]


def assert_outcome(outcome, kind, message_id=None, reason=None, reason_has=None, retry_after=None, retry_at=None):
    assert outcome.kind is kind, outcome
    assert outcome.message_id == message_id
    assert reason is None or outcome.reason == reason
    assert reason_has is None or reason_has in outcome.reason
    if retry_at is None:
        assert outcome.retry_after == retry_after
    else:  # a reset time: the wait is what was left of it when the answer came, after NOW and before now
        assert retry_at - time.time() <= outcome.retry_after <= retry_at - NOW


@pytest.mark.parametrize("status, answer, expected", [row[1:] for row in MAILGUN_ANSWERS],
                         ids=[row[0] for row in MAILGUN_ANSWERS])
def test_mailgun_answers(config, rsps, status, answer, expected):
    rsps.post(URLS[MailgunProvider], status=status, **answer)
    outcome = MailgunProvider(config).send(MESSAGE)
    assert outcome.status == status
    assert_outcome(outcome, **expected)


@pytest.mark.parametrize("status, answer, expected", [row[1:] for row in SENDGRID_ANSWERS],
                         ids=[row[0] for row in SENDGRID_ANSWERS])
def test_sendgrid_answers(config, rsps, status, answer, expected):
    rsps.post(URLS[SendGridProvider], status=status, **answer)
    outcome = SendGridProvider(config).send(MESSAGE)
    assert outcome.status == status
    assert_outcome(outcome, **expected)


CONN = HTTPConnection("api.example.com", 443)
URL_PATH = "/v3/mail/send"


def failed(reason):
    """What requests' adapter wraps a urllib3 failure in when retries are off."""
    return MaxRetryError(None, URL_PATH, reason=reason)


# (id, exception as requests raises it, class, timed_out)
TRANSPORT_FAILURES = [
    ("connect timeout", requests.ConnectTimeout(), NOT_ACCEPTED, False),
    ("refused", requests.ConnectionError(failed(NewConnectionError(CONN, "[Errno 111] Connection refused"))),
     NOT_ACCEPTED, False),
    ("dns", requests.ConnectionError(failed(NameResolutionError("api.example.com", CONN, socket.gaierror(-2, "x")))),
     NOT_ACCEPTED, False),
    ("tls handshake", requests.exceptions.SSLError(failed(Urllib3SSLError(ssl.SSLCertVerificationError(1, "bad")))),
     NOT_ACCEPTED, False),
    ("tls bare", requests.exceptions.SSLError(), NOT_ACCEPTED, False),
    ("proxy", requests.exceptions.ProxyError(failed(Urllib3ProxyError("Unable to connect to proxy", OSError()))),
     NOT_ACCEPTED, False),
    ("read timeout", requests.ReadTimeout(), AMBIGUOUS, True),
    ("read timeout in body", requests.ConnectionError(ReadTimeoutError(None, URL_PATH, "Read timed out.")),
     AMBIGUOUS, True),
    ("reset", requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))),
     AMBIGUOUS, False),
    ("tls error in body", requests.exceptions.SSLError(Urllib3SSLError("bad record mac")), AMBIGUOUS, False),
    ("chunked", requests.exceptions.ChunkedEncodingError(ProtocolError("Connection broken: IncompleteRead")),
     AMBIGUOUS, False),
    ("base class", requests.RequestException("something else"), AMBIGUOUS, False),
]


@pytest.mark.parametrize("provider_class", [MailgunProvider, SendGridProvider])
@pytest.mark.parametrize("error, kind, timed_out", [row[1:] for row in TRANSPORT_FAILURES],
                         ids=[row[0] for row in TRANSPORT_FAILURES])
def test_transport_failures(config, rsps, provider_class, error, kind, timed_out):
    rsps.post(URLS[provider_class], body=error)
    outcome = provider_class(config).send(MESSAGE)
    assert (outcome.kind, outcome.timed_out, outcome.status) == (kind, timed_out, None), outcome.reason


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_local_server(config, port):
    url = f"http://127.0.0.1:{port}"
    config = dataclasses.replace(config, provider_timeout=0.3)
    config = config.with_settings("mailgun", base_url=url).with_settings("sendgrid", base_url=url)
    return [MailgunProvider(config), SendGridProvider(config)]


def test_a_real_refused_connection_is_not_accepted(config):
    for provider in on_local_server(config, closed_port()):
        outcome = provider.send(MESSAGE)
        assert outcome.kind is NOT_ACCEPTED, outcome.reason


@pytest.mark.parametrize("server_does, kind, timed_out", [("reset", AMBIGUOUS, False), ("hang", AMBIGUOUS, True)])
def test_a_real_failure_after_sending_is_ambiguous(config, server_does, kind, timed_out):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        done = threading.Event()

        def serve():
            for _ in range(2):
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)
                    if server_does == "reset":  # RST instead of an answer
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    else:
                        done.wait(2)

        thread = threading.Thread(target=serve)
        thread.start()
        outcomes = [provider.send(MESSAGE) for provider in on_local_server(config, server.getsockname()[1])]
        done.set()
        thread.join()
    assert [(o.kind, o.timed_out) for o in outcomes] == [(kind, timed_out)] * 2, outcomes


@pytest.mark.parametrize("provider_class", [MailgunProvider, SendGridProvider])
def test_secrets_never_reach_reasons_or_reprs(config, rsps, provider_class):
    key = config.settings_of(provider_class.name).api_key
    echo = {"message": f"bad key {key}", "errors": [{"message": f"bad key {key}", "field": None}]}
    rsps.post(URLS[provider_class], status=401, json=echo)
    rsps.post(URLS[provider_class], status=400, json=echo)
    rsps.post(URLS[provider_class], body=requests.ConnectionError(f"proxy said {key}"))
    provider = provider_class(config)

    seen = repr([provider.send(MESSAGE) for _ in range(3)] + [provider, str(provider)])

    assert "[redacted]" in seen
    assert key not in seen


def test_the_message_is_unchanged_after_both_adapters_built_from_it(config, rsps, message):
    original = copy.deepcopy(message)
    rsps.post(URLS[MailgunProvider], json={"id": "<x>", "message": "Queued."})
    rsps.post(URLS[SendGridProvider], status=202)

    for provider_class in (MailgunProvider, SendGridProvider):
        assert provider_class(config).send(message).kind is ACCEPTED

    assert message == original
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.to = ()
