"""Fake providers' outbound webhooks: the control API's `POST /webhooks` finds a recorded message, asks its
fake for the provider's signed requests, and posts them to the URL given."""

import asyncio
import http.client
import time
from urllib.parse import urlsplit


POST_TIMEOUT_S = 30
PARAMS = {"url", "message_id", "event", "events", "recipient", "repeat", "signature_version", "username",
          "password"}


class WebhookError(ValueError):
    """A webhook the control API was asked to post but cannot."""


class WebhookRequest:
    """What the control API was asked to post: which events of which recorded message, for whom, how often."""

    def __init__(self, params: dict, record: dict):
        unknown = set(params) - PARAMS
        if unknown:
            raise WebhookError(f"POST /webhooks takes no {', '.join(sorted(unknown))}")
        self.url, self.record = params.get("url"), record
        if not isinstance(self.url, str) or urlsplit(self.url).scheme not in ("http", "https"):
            raise WebhookError("url must be an http(s) URL")
        events = params.get("events", [params.get("event")])
        if not events or not all(isinstance(e, str) for e in events):
            raise WebhookError("event must be a string (events: a list of them)")
        self.events = events
        everyone = [address_of(m) for m in record["to"] + record["cc"] + record["bcc"]]
        recipient = params.get("recipient")
        if recipient is not None and recipient.lower() not in (r.lower() for r in everyone):
            raise WebhookError(f"{recipient!r} is not a recipient of {record['id']}")
        self.recipients = everyone if recipient is None else [recipient]
        self.repeat = params.get("repeat", 1)
        if type(self.repeat) is not int or not 1 <= self.repeat <= 50:
            raise WebhookError("repeat must be an integer from 1 to 50")
        self.params, self.now = params, time.time()

    def check_events(self, known) -> None:
        unknown = [e for e in self.events if e not in known]
        if unknown:
            raise WebhookError(f"no {self.record['provider']} event {unknown[0]!r}; one of {', '.join(known)}")


def address_of(mailbox: str) -> str:
    """The addr-spec of `addr` or `Name <addr>`."""
    return mailbox.rpartition("<")[2].rstrip(">").strip()


async def post_webhooks(api, request: WebhookRequest) -> list[dict]:
    """Build the fake's requests and post each `repeat` times, in a thread: the receiver may call back into
    this event loop (an SNS certificate fetch)."""
    posts = api.webhook_posts(request)
    answers = []
    for body, headers in posts:
        for _ in range(request.repeat):
            answers.append(await asyncio.to_thread(post, request.url, body, headers))
    return answers


def post(url: str, body: bytes, headers: dict) -> dict:
    """POST once; what the receiver answered, or the error that prevented an answer."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=POST_TIMEOUT_S)
    try:
        connection.request("POST", parts.path + (f"?{parts.query}" if parts.query else "") or "/", body,
                           {"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        answer = response.read()
    except OSError as exc:
        return {"status": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        connection.close()
    return {"status": response.status, "body": answer.decode("utf-8", "replace")[:2000]}


def keys_of(endpoints) -> dict:
    """What a receiver needs to verify each fake's webhooks (GET /webhooks/keys)."""
    return {name: e.api.webhook_keys() for name, e in endpoints.items() if hasattr(e.api, "webhook_keys")}
