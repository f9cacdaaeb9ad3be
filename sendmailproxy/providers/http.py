"""HTTP plumbing the provider adapters share: one pooled session each, one POST, one outcome per call."""
from __future__ import annotations

import abc
import dataclasses
import functools
import http.client
import math
import os
import time
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlparse

import requests
import urllib3
from requests.adapters import HTTPAdapter

from sendmailproxy import __version__
from sendmailproxy.message import Message, probe_message
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider

if TYPE_CHECKING:
    from sendmailproxy.config import Config

ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS
REASON_LIMIT = 500
RATE_LIMITED = (420, 429)


class Rule(NamedTuple):
    """What one kind of answer means: its class, a label for the reason, and whether only a person can fix it."""

    kind: OutcomeKind
    label: str
    operator_must_act: bool = False


# What each status means at both providers (provider-apis.md section 3); anything unlisted falls back by class.
STATUSES: dict[int, Rule] = {
    400: Rule(REJECTED, "the provider rejected the message"),
    401: Rule(NOT_ACCEPTED, "credentials problem: the API key is missing, wrong or revoked"),
    402: Rule(NOT_ACCEPTED, "the provider refused the request (payment or account state)", operator_must_act=True),
    403: Rule(NOT_ACCEPTED, "permission problem: the API key, sender or account may not send this"),
    404: Rule(NOT_ACCEPTED, "not found: check the base URL, region and sending domain"),
    405: Rule(NOT_ACCEPTED, "method not allowed: check the base URL"),
    406: Rule(NOT_ACCEPTED, "not acceptable"),
    413: Rule(REJECTED, "the message is too large"),
    415: Rule(NOT_ACCEPTED, "unsupported media type"),
    420: Rule(NOT_ACCEPTED, "rate limited"),
    429: Rule(NOT_ACCEPTED, "rate limited"),
    451: Rule(NOT_ACCEPTED, "refused for legal or data-residency reasons"),
}

# Errors below requests that it lets escape unwrapped (adapters.py re-raises unknown urllib3 errors, and a bad CA
# bundle path is a bare OSError): provider trouble all the same, so they become outcomes too.
TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


USER_AGENT = f"sendmailproxy/{__version__}"


class UnsignedError(Exception):
    """A call could not be authenticated (no credentials, or they could not be refreshed): it was not sent."""


def build_session(base_url: str, pool_size: int) -> requests.Session:
    """A session pooling a keep-alive connection per thread, with the environment's settings read once, now."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # With trust_env on, requests re-reads proxy variables, netrc and CA variables on every call, and proxy
    # bypass checks are slow; the answer cannot change for a fixed base URL, so compute it once here.
    session.trust_env = False
    proxy = requests.utils.select_proxy(base_url, requests.utils.get_environ_proxies(base_url))
    session.proxies = {urlparse(base_url).scheme: proxy} if proxy else {}
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


def json_body(response: requests.Response) -> Any:
    """The response's JSON, or None when the body is not JSON (never assume it is: Mailgun's 401 is text)."""
    try:
        return response.json()
    except ValueError:
        return None


def body_text(response: requests.Response) -> str:
    """The start of the body as one line of text, for reasons."""
    return " ".join(response.content[: REASON_LIMIT * 4].decode("utf-8", "replace").split())


def status_outcome(response: requests.Response, text: str, *, rule: Rule | None = None,
                   reset_at: float | None = None) -> Outcome:
    """The outcome of an HTTP answer that is not an acceptance: `rule`, else STATUSES, else the status class."""
    status = response.status_code
    kind, label, operator_must_act = rule or STATUSES.get(status) or _status_class(status)
    if kind is REJECTED:  # the client is shown the provider's own words about its message
        reason = text or label
    else:
        reason = f"{label} (HTTP {status})" + (f": {text}" if text else "")
    wait = retry_after(response, reset_at) if status in RATE_LIMITED else None
    return Outcome(kind, _truncate(reason), status=status, retry_after=wait, operator_must_act=operator_must_act)


def _status_class(status: int) -> Rule:
    if 500 <= status <= 599:
        return Rule(AMBIGUOUS, "provider error")
    # Redirects are not followed, so a 3xx means this URL did not take the request (a wrong base URL, say);
    # and any 4xx proves nothing was accepted. Either way failing over cannot send twice.
    if 300 <= status <= 499:
        return Rule(NOT_ACCEPTED, "unexpected status: nothing was accepted")
    return Rule(AMBIGUOUS, "unexpected response")


def retry_after(response: requests.Response, reset_at: float | None) -> float | None:
    """Seconds to wait: a numeric Retry-After header, else the provider's reset time (epoch seconds), else None."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        seconds = None if reset_at is None else reset_at - time.time()
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None


def transport_outcome(error: Exception) -> Outcome:
    """The outcome of a call that got no HTTP answer; the order matters because requests' classes overlap."""
    cause = error.args[0] if error.args else None
    # requests raises SSLError for the handshake (wrapped in MaxRetryError) and also, bare, while reading a
    # response body: by then the request was sent.
    handshake = isinstance(error, requests.exceptions.SSLError) and not isinstance(cause, urllib3.exceptions.SSLError)
    timed_out = isinstance(error, requests.ReadTimeout) or isinstance(cause, urllib3.exceptions.ReadTimeoutError)
    if isinstance(error, requests.ConnectTimeout):
        kind, label = NOT_ACCEPTED, "could not connect in time"
    elif timed_out:
        kind, label = AMBIGUOUS, "no answer in time after sending"
    elif handshake or isinstance(error, requests.exceptions.ProxyError) or _failed_to_connect(cause):
        kind, label = NOT_ACCEPTED, "could not connect"
    else:
        kind, label = AMBIGUOUS, "connection broke after the request was sent"
    reason = f"{label}: {type(error).__name__}: {error}"
    return Outcome(kind, _truncate(reason), timed_out=timed_out)


def _failed_to_connect(cause: object) -> bool:
    # Refused, unreachable and DNS failures reach us as MaxRetryError(reason=NewConnectionError or its subclass
    # NameResolutionError); a reset after sending is a ProtocolError instead.
    if isinstance(cause, urllib3.exceptions.MaxRetryError):
        cause = cause.reason
    return isinstance(cause, urllib3.exceptions.NewConnectionError)


def _truncate(text: str) -> str:
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


class HttpProvider(Provider):
    """What both HTTP adapters share: the session, the POST, and exceptions converted where they enter.

    A subclass gives `_payload` (the message as request arguments) and `_classify` (an answer as an outcome),
    and sets its auth on `self._session` in `__init__` (or signs each call in `_sign`); `_post` does the rest,
    taking no lock of ours or of the session's (tests/api/test_send_path_locks.py).
    """

    def __init__(self, config: Config, base_url: str, path: str, secret: str):
        # One connection per request thread, plus one for the prober thread that shares this adapter.
        self._session = build_session(base_url, config.threads + 1)
        self._adapter = self._session.get_adapter(base_url)
        # What Session.send would hand the adapter on each call, as build_session resolved it.
        self._transport = {"proxies": self._session.proxies, "verify": self._session.verify,
                           "cert": self._session.cert}
        self._base_url = base_url
        self._url = base_url + path
        self._timeout = (config.provider_timeout, config.provider_timeout)
        self.max_send_seconds = sum(self._timeout)
        self._secret = secret
        self._probe_message = probe_message(config.poll_address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    def send(self, message: Message) -> Outcome:
        """Send a real message."""
        return self._post(self._payload(message, test_mode=False))

    def probe(self) -> Outcome:
        """Send the poll message in the provider's no-delivery mode."""
        return self._post(self._payload(self._probe_message, test_mode=True))

    @abc.abstractmethod
    def _payload(self, message: Message, test_mode: bool) -> dict[str, Any]:
        """The `data`, `files`, `json` and `headers` arguments of a `requests.Request` that carry this message."""

    @abc.abstractmethod
    def _classify(self, response: requests.Response) -> Outcome:
        """The outcome of an HTTP answer."""

    @functools.cached_property
    def _template(self) -> requests.PreparedRequest:
        # URL, headers and auth are the same for every call: prepared once (after the subclass set its auth),
        # then copied and given a body.
        return self._session.prepare_request(requests.Request("POST", self._url))

    def _sign(self, prepared: requests.PreparedRequest) -> None:
        """Authenticate this one call, for providers whose signature covers the body (SigV4).

        The others authenticate once, in the template. Raises UnsignedError when it cannot.
        """

    def _post(self, request: dict[str, Any]) -> Outcome:
        prepared = self._template.copy()
        prepared.headers.update(request.get("headers", ()))
        prepared.prepare_body(request.get("data"), request.get("files"), request.get("json"))
        try:
            self._sign(prepared)
            # Straight to the pooled adapter: Session.send would resolve proxies again, dispatch hooks, set up
            # redirects, and store each answer's cookies in the session's jar under a lock every thread shares.
            response = self._adapter.send(prepared, timeout=self._timeout, **self._transport)
            # Read whole, as Session.send does: the connection goes back to the pool, and a body cut short
            # raises here, a transport error like any other.
            response.content  # noqa: B018
        except UnsignedError as error:  # nothing left this process
            outcome = Outcome(NOT_ACCEPTED, _truncate(f"could not sign the request: {error}"), operator_must_act=True)
        except TRANSPORT_ERRORS as error:
            outcome = transport_outcome(error)
        else:
            outcome = self._classify(response)
        # A provider or proxy could echo the key back; it must never reach a log or a client.
        if self._secret and self._secret in outcome.reason:
            outcome = dataclasses.replace(outcome, reason=outcome.reason.replace(self._secret, "[redacted]"))
        return outcome
