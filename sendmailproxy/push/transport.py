"""One push attempt: the signed POST through a pooled session, and whatever happens turned into one Answer."""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Callable

import requests

from sendmailproxy.events.model import Event
from sendmailproxy.providers.httptransport import build_session
from sendmailproxy.providers.httpanswers import TRANSPORT_ERRORS
from sendmailproxy.push import notification
from sendmailproxy.push.deadline import Deadlines, WatchedAdapter
from sendmailproxy.push.settings import PushSettings

THROTTLING = (429, 503)  # the answers whose Retry-After we honour


class Result(enum.Enum):
    """What one attempt came to (the `result` label of smsp_push_attempts_total)."""

    DELIVERED = "delivered"  # any 2xx
    FAILED_STATUS = "failed_status"  # any other status, 3xx included: redirects are not followed
    TIMEOUT = "timeout"  # no whole answer within the timeout
    CONNECTION_ERROR = "connection_error"  # refused, reset, TLS, DNS, proxy
    GONE = "gone"  # 410: the receiver wants no more of this event


@dataclass(frozen=True)
class Answer:
    """One attempt's result, its HTTP status if any, the receiver's Retry-After in seconds, and why (for logs)."""

    result: Result
    status: int | None = None
    retry_after: float | None = None
    reason: str = ""


class PushClient:
    """POSTs events to the one receiving URL, `pool_size` connections at most, each attempt within the timeout."""

    def __init__(self, settings: PushSettings, pool_size: int, deadlines: Deadlines,
                 clock: Callable[[], float] = time.time):
        session = build_session(settings.url, pool_size)  # the proxy and CA settings, as the provider calls
        self._adapter = WatchedAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        self._transport = {"proxies": session.proxies, "verify": session.verify, "cert": session.cert}
        self._template = session.prepare_request(requests.Request("POST", settings.url))
        self._keys = settings.keys
        self._timeout = settings.timeout
        self._deadlines = deadlines
        self._clock = clock

    def post(self, event: Event) -> Answer:
        """One attempt to deliver `event`; never raises for the receiver's or the network's trouble."""
        payload = notification.body(event)
        prepared = self._template.copy()
        prepared.headers.update(notification.headers(self._keys, event.id, int(self._clock()), payload))
        prepared.prepare_body(payload, None)
        attempt = self._deadlines.start(self._timeout)
        try:
            # Straight to the adapter, as the provider calls: no redirects followed, no cookies kept.
            response = self._adapter.send(prepared, timeout=(self._timeout, self._timeout), **self._transport)
            response.content  # noqa: B018 - read whole, within the deadline, so the connection is reusable
        except TRANSPORT_ERRORS as error:
            timed_out = attempt.cut or isinstance(error, requests.Timeout)
            return Answer(Result.TIMEOUT if timed_out else Result.CONNECTION_ERROR,
                          reason=f"{type(error).__name__}: {error}"[:300])
        finally:
            self._deadlines.finish(attempt)
        return answer_of(response.status_code, response.headers.get("Retry-After"), self._clock())


def answer_of(status: int, retry_after: str | None, now: float) -> Answer:
    """The Answer of an HTTP status (and Retry-After header, read on 429 and 503)."""
    if 200 <= status <= 299:
        return Answer(Result.DELIVERED, status)
    if status == 410:
        return Answer(Result.GONE, status, reason="HTTP 410")
    wait = parse_retry_after(retry_after, now) if status in THROTTLING and retry_after else None
    return Answer(Result.FAILED_STATUS, status, wait, f"HTTP {status}")


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a Retry-After of delay-seconds or an HTTP date; None when it is neither."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an HTTP date is GMT
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - now)
