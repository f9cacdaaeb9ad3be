"""What an HTTP answer means, or the lack of one: the status table and the outcome of a transport error.

An HTTP adapter's `classify` reads its provider's body, then hands the rest to `status_outcome`; the POST
itself is in httptransport.py.
"""
from __future__ import annotations

import http.client
import math
import time
from typing import Any, NamedTuple

import requests
import urllib3

from sendmailproxy.providers.base import AMBIGUOUS, NOT_ACCEPTED, REJECTED, Outcome, OutcomeKind
from sendmailproxy.providers.reasons import REASON_LIMIT, one_line, truncate

RATE_LIMITED = (420, 429)


class Rule(NamedTuple):
    """What one kind of answer means: its class, a label for the reason, and whether only a person can fix it."""

    kind: OutcomeKind
    label: str
    operator_must_act: bool = False


# What each status means at every HTTP provider (docs/provider-apis.md section 3), unless the adapter's own table
# says otherwise; anything unlisted falls back by class.
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


def json_body(response: requests.Response) -> Any:
    """The response's JSON, or None when the body is not JSON (never assume it is: Mailgun's 401 is text)."""
    try:
        return response.json()
    except ValueError:
        return None


def body_text(response: requests.Response) -> str:
    """The start of the body as one line of text, for reasons."""
    return one_line(response.content[: REASON_LIMIT * 4])


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
    return Outcome(kind, truncate(reason), status=status, retry_after=wait, operator_must_act=operator_must_act)


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
    return Outcome(kind, truncate(reason), timed_out=timed_out)


def _failed_to_connect(cause: object) -> bool:
    # Refused, unreachable and DNS failures reach us as MaxRetryError(reason=NewConnectionError or its subclass
    # NameResolutionError); a reset after sending is a ProtocolError instead.
    if isinstance(cause, urllib3.exceptions.MaxRetryError):
        cause = cause.reason
    return isinstance(cause, urllib3.exceptions.NewConnectionError)
