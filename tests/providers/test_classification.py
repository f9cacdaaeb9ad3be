"""Every provider answer and transport failure ends in exactly one outcome class, with no secret in it."""
import copy
import dataclasses
import email.utils
import http.server
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
from sendmailproxy.providers import MailgunProvider, OutcomeKind, PostmarkProvider, SendGridProvider, SesProvider
from tests.providers.conftest import OPTIONS, SETTINGS, adapter
from testkit.ports import free_port

ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS
URLS = {MailgunProvider: "https://api.mailgun.net/v3/mg.example.com/messages",
        SendGridProvider: "https://api.sendgrid.com/v3/mail/send",
        SesProvider: "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails",
        PostmarkProvider: "https://api.postmarkapp.com/email"}
PROVIDERS = list(URLS)
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


def ses_error(code, message, status_header=True):
    """SES's error shape: the code in x-amzn-ErrorType, the text in the body."""
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"}
    return {"json": {"message": message}, "headers": headers if status_header else {}}


UNVERIFIED = "Email address is not verified. The following identities failed the check in region EU-WEST-1: a@x.org"
# Every error code of docs/providers/ses.md: status, SES's code, and what they mean together.
SES_ANSWERS = [
    ("200 MessageId", 200, {"json": {"MessageId": "0100-abc"}}, {"kind": ACCEPTED, "message_id": "0100-abc"}),
    ("200 without MessageId", 200, {"json": {}}, {"kind": AMBIGUOUS}),
    ("200 empty MessageId", 200, {"json": {"MessageId": ""}}, {"kind": AMBIGUOUS}),
    ("200 not JSON", 200, {"body": "<html>proxy</html>"}, {"kind": AMBIGUOUS}),
    ("400 BadRequestException", 400, ses_error("BadRequestException", "Invalid tag"),
     {"kind": REJECTED, "reason": "BadRequestException: Invalid tag", "operator": False}),
    ("400 MessageRejected content", 400, ses_error("MessageRejected", "Illegal address"),
     {"kind": REJECTED, "reason": "MessageRejected: Illegal address", "operator": False}),
    ("400 MessageRejected not verified", 400, ses_error("MessageRejected", UNVERIFIED),
     {"kind": NOT_ACCEPTED, "reason_has": "not verified", "operator": True}),
    ("400 MailFromDomainNotVerifiedException", 400, ses_error("MailFromDomainNotVerifiedException", "x"),
     {"kind": NOT_ACCEPTED, "operator": True}),
    ("400 AccountSuspendedException", 400, ses_error("AccountSuspendedException", "x"),
     {"kind": NOT_ACCEPTED, "operator": True}),
    ("400 SendingPausedException", 400, ses_error("SendingPausedException", "x"), {"kind": NOT_ACCEPTED, "operator": True}),
    ("400 LimitExceededException", 400, ses_error("LimitExceededException", "Daily message quota exceeded."),
     {"kind": NOT_ACCEPTED, "operator": False}),
    ("400 ExpiredTokenException", 400, ses_error("ExpiredTokenException", "x"), {"kind": NOT_ACCEPTED, "operator": True}),
    ("400 IncompleteSignatureException", 400, ses_error("IncompleteSignatureException", "x"),
     {"kind": NOT_ACCEPTED, "operator": True}),
    ("400 unknown code", 400, ses_error("BrandNewException", "x"), {"kind": NOT_ACCEPTED, "operator": False}),
    ("400 no code", 400, {"body": "<html>Bad Request</html>"}, {"kind": NOT_ACCEPTED, "operator": False}),
    ("400 code in body", 400, {"json": {"code": "MessageRejected", "message": "Illegal address"}},
     {"kind": REJECTED, "reason": "MessageRejected: Illegal address"}),
    ("400 __type in body", 400, {"json": {"__type": "com.amazonaws.sesv2#BadRequestException", "Message": "bad"}},
     {"kind": REJECTED, "reason": "BadRequestException: bad"}),
    ("404 NotFoundException", 404, ses_error("NotFoundException", "Configuration set <x> does not exist."),
     {"kind": NOT_ACCEPTED, "operator": True}),
    ("413", 413, {"body": "Request Entity Too Large"}, {"kind": REJECTED}),
    ("429 TooManyRequestsException", 429, ses_error("TooManyRequestsException", "Maximum sending rate exceeded."),
     {"kind": NOT_ACCEPTED, "retry_after": None, "operator": False}),
    ("429 with Retry-After", 429, {"json": {"message": "slow down"}, "headers": {
        "x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "5"}}, {"kind": NOT_ACCEPTED, "retry_after": 5}),
    ("401", 401, {"body": ""}, {"kind": NOT_ACCEPTED, "operator": True}),
] + [(f"403 {code}", 403, ses_error(code, "denied"), {"kind": NOT_ACCEPTED, "operator": True}) for code in (
    "InvalidClientTokenId", "UnrecognizedClientException", "AccessDeniedException", "SignatureDoesNotMatch",
    "InvalidSignatureException", "MissingAuthenticationTokenException")] + [
    ("500 InternalServiceErrorException", 500, ses_error("InternalServiceErrorException", "x"), {"kind": AMBIGUOUS}),
] + [(f"{s}", s, {"body": "<html>Bad Gateway</html>"}, {"kind": AMBIGUOUS}) for s in (502, 503, 504)]


def pm(code, message="m"):
    return {"json": {"ErrorCode": code, "Message": message}}


PM_OK = {"To": "b@example.com", "SubmittedAt": "2026-11-28T10:00:00Z", "MessageID": "9d1b-uuid"}
# Every ErrorCode of docs/providers/postmark.md: status and Postmark's ErrorCode together.
POSTMARK_ANSWERS = [
    ("200 OK", 200, {"json": {**PM_OK, "ErrorCode": 0, "Message": "OK"}}, {"kind": ACCEPTED, "message_id": "9d1b-uuid"}),
    ("200 delayed without ErrorCode", 200, {"json": {**PM_OK, "Message": "Message accepted, but delivery may be "
                                                                         "delayed."}},
     {"kind": ACCEPTED, "message_id": "9d1b-uuid"}),
    ("200 some recipients inactive", 200, {"json": {**PM_OK, "ErrorCode": 0, "Message": "Message OK, but will not "
                                                    "deliver to these inactive addresses: c@example.com."}},
     {"kind": ACCEPTED, "message_id": "9d1b-uuid"}),
    ("200 with an ErrorCode", 200, {"json": {**PM_OK, "ErrorCode": 406, "Message": "inactive"}}, {"kind": AMBIGUOUS}),
    ("200 ErrorCode false", 200, {"json": {**PM_OK, "ErrorCode": False, "Message": "OK"}}, {"kind": AMBIGUOUS}),
    ("200 without MessageID", 200, {"json": {"ErrorCode": 0, "Message": "OK"}}, {"kind": AMBIGUOUS}),
    ("200 not JSON", 200, {"body": "<html>maintenance</html>"}, {"kind": AMBIGUOUS}),
    ("401 ErrorCode 10", 401, pm(10, "bad token"), {"kind": NOT_ACCEPTED, "operator": True}),
    ("401 no body", 401, {"body": ""}, {"kind": NOT_ACCEPTED, "operator": True}),
    ("403 security layer HTML", 403, {"body": "<html>403 Forbidden</html>", "content_type": "text/html"},
     {"kind": NOT_ACCEPTED, "operator": True}),
    ("404", 404, {"body": "Not Found"}, {"kind": NOT_ACCEPTED}),
    ("413", 413, {"body": "Request Entity Too Large"}, {"kind": REJECTED}),
    ("422 ErrorCode 10", 422, pm(10), {"kind": NOT_ACCEPTED, "operator": True}),
    ("422 ErrorCode 300", 422, pm(300, "Invalid 'To' address: 'x'."),
     {"kind": REJECTED, "reason": "ErrorCode 300: Invalid 'To' address: 'x'.", "operator": False}),
    ("422 ErrorCode 300 sender signature", 422, pm(300, "The 'From' address is not a verified Sender Signature"),
     {"kind": NOT_ACCEPTED, "operator": True}),
    ("422 unknown ErrorCode", 422, pm(9999), {"kind": NOT_ACCEPTED, "operator": False}),
    ("422 no ErrorCode", 422, {"json": {"Message": "odd"}}, {"kind": NOT_ACCEPTED, "operator": False}),
    ("429 ErrorCode 429", 429, pm(429, "Rate limit exceeded."), {"kind": NOT_ACCEPTED, "retry_after": None,
                                                                 "operator": False}),
    ("429 with Retry-After", 429, {**pm(429), "headers": {"Retry-After": "7"}}, {"kind": NOT_ACCEPTED, "retry_after": 7}),
    ("500", 500, pm(0, "Internal server error"), {"kind": AMBIGUOUS}),
    ("503 maintenance", 503, pm(100, "Maintenance"), {"kind": NOT_ACCEPTED, "operator": False}),
    ("503 not Postmark's", 503, {"body": "<html>Service Unavailable</html>"}, {"kind": AMBIGUOUS}),
    ("400 unknown", 400, {"body": "Bad Request"}, {"kind": NOT_ACCEPTED, "operator": False}),
] + [(f"422 ErrorCode {code}", 422, pm(code), {"kind": kind, "operator": kind is NOT_ACCEPTED}) for code, kind in (
    (400, NOT_ACCEPTED), (401, NOT_ACCEPTED), (402, REJECTED), (403, REJECTED), (405, NOT_ACCEPTED), (406, REJECTED),
    (409, REJECTED), (411, REJECTED), (412, NOT_ACCEPTED), (413, NOT_ACCEPTED), (1235, NOT_ACCEPTED))]


def assert_outcome(outcome, kind, message_id=None, reason=None, reason_has=None, retry_after=None, retry_at=None,
                   operator=None):
    assert outcome.kind is kind, outcome
    assert outcome.message_id == message_id
    assert operator is None or outcome.needs_an_operator is operator, outcome
    assert reason is None or outcome.reason == reason
    assert reason_has is None or reason_has in outcome.reason
    if retry_at is None:
        assert outcome.retry_after == retry_after
    else:  # a reset time: the wait is what was left of it when the answer came, after NOW and before now
        assert retry_at - time.time() <= outcome.retry_after <= retry_at - NOW


ANSWERS = {MailgunProvider: MAILGUN_ANSWERS, SendGridProvider: SENDGRID_ANSWERS, SesProvider: SES_ANSWERS,
           PostmarkProvider: POSTMARK_ANSWERS}


@pytest.mark.parametrize("provider_class, status, answer, expected",
                         [(provider, *row[1:]) for provider, rows in ANSWERS.items() for row in rows],
                         ids=[f"{provider.name}: {row[0]}" for provider, rows in ANSWERS.items() for row in rows])
def test_each_providers_answers(rsps, provider_class, status, answer, expected):
    rsps.post(URLS[provider_class], status=status, **answer)
    outcome = adapter(provider_class).send(MESSAGE)
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


@pytest.mark.parametrize("provider_class", PROVIDERS)
@pytest.mark.parametrize("error, kind, timed_out", [row[1:] for row in TRANSPORT_FAILURES],
                         ids=[row[0] for row in TRANSPORT_FAILURES])
def test_transport_failures(rsps, provider_class, error, kind, timed_out):
    rsps.post(URLS[provider_class], body=error)
    outcome = adapter(provider_class).send(MESSAGE)
    assert (outcome.kind, outcome.timed_out, outcome.status) == (kind, timed_out, None), outcome.reason


def on_local_server(port):
    options = dataclasses.replace(OPTIONS, timeout=0.3)
    return [adapter(provider_class, options, base_url=f"http://127.0.0.1:{port}") for provider_class in PROVIDERS]


def test_a_real_refused_connection_is_not_accepted():
    for provider in on_local_server(free_port()):
        outcome = provider.send(MESSAGE)
        assert outcome.kind is NOT_ACCEPTED, outcome.reason


@pytest.mark.parametrize("server_does, kind, timed_out", [("reset", AMBIGUOUS, False), ("hang", AMBIGUOUS, True)])
def test_a_real_failure_after_sending_is_ambiguous(server_does, kind, timed_out):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        done = threading.Event()

        def serve():
            for _ in PROVIDERS:
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)
                    if server_does == "reset":  # RST instead of an answer
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    else:
                        done.wait(2)

        thread = threading.Thread(target=serve)
        thread.start()
        outcomes = [provider.send(MESSAGE) for provider in on_local_server(server.getsockname()[1])]
        done.set()
        thread.join()
    assert [(o.kind, o.timed_out) for o in outcomes] == [(kind, timed_out)] * len(PROVIDERS), outcomes


@pytest.mark.parametrize("provider_class, secret", [(MailgunProvider, "api_key"), (SendGridProvider, "api_key"),
                                                    (PostmarkProvider, "server_token")])
def test_secrets_never_reach_reasons_or_reprs(rsps, provider_class, secret):
    key = getattr(SETTINGS[provider_class.name], secret)
    echo = {"message": f"bad key {key}", "Message": f"bad key {key}",
            "errors": [{"message": f"bad key {key}", "field": None}]}
    rsps.post(URLS[provider_class], status=401, json=echo)
    rsps.post(URLS[provider_class], status=400, json=echo)
    rsps.post(URLS[provider_class], body=requests.ConnectionError(f"proxy said {key}"))
    provider = adapter(provider_class)

    seen = repr([provider.send(MESSAGE) for _ in range(3)] + [provider, str(provider)])

    assert "[redacted]" in seen
    assert key not in seen


def test_the_message_is_unchanged_after_every_adapter_built_from_it(rsps, message):
    original = copy.deepcopy(message)
    rsps.post(URLS[MailgunProvider], json={"id": "<x>", "message": "Queued."})
    rsps.post(URLS[SendGridProvider], status=202)
    rsps.post(URLS[SesProvider], json={"MessageId": "x"})
    rsps.post(URLS[PostmarkProvider], json={"MessageID": "x", "ErrorCode": 0})

    for provider_class in PROVIDERS:
        assert adapter(provider_class).send(message).kind is ACCEPTED

    assert message == original
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.to = ()


class CountingServer(http.server.ThreadingHTTPServer):
    """Counts the POSTs it gets; answers each with 500, or with nothing until the client has given up."""

    daemon_threads = True

    def __init__(self, answer: str):
        self.answer, self.posts, self.release = answer, 0, threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805 - the server is `self` here
                handler.rfile.read(int(handler.headers["Content-Length"]))
                self.posts += 1
                if self.answer == "hang":
                    self.release.wait(5)
                handler.send_response(500)
                handler.send_header("Content-Length", "0")
                handler.end_headers()

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.mark.parametrize("answer, timed_out", [("500", False), ("hang", True)])
def test_an_ambiguous_failure_is_sent_exactly_once(answer, timed_out):
    # A real server, so that any retry below the adapter (urllib3's, or an SDK's) would reach it and be counted.
    with CountingServer(answer) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            for provider in on_local_server(server.server_address[1]):
                before = server.posts
                outcome = provider.send(MESSAGE)
                assert (outcome.kind, outcome.timed_out) == (AMBIGUOUS, timed_out), outcome.reason
                assert server.posts - before == 1, f"{provider.name} sent the message {server.posts - before} times"
        finally:
            server.release.set()
            server.shutdown()
            thread.join()
