"""Mailgun's webhooks: HMAC-SHA256 over timestamp + token, one event per POST, the token single-use."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Mapping

from .model import Event, event_id, rfc3339
from .verdict import (Accepted, Nonce, Verdict, as_text, check_fresh, malformed, parse_json, unauthenticated,
                      verdict_of)

PROVIDER = "mailgun"
# `failed` with these delivery-status codes: Mailgun did not send, the address is on its own list.
LISTED_CODES = {605: "bounced", 606: "unsubscribed", 607: "complained"}
# Mailgun refused to send for its own reasons (625: poor list quality); not a suppression.
DROPPED_CODES = set(LISTED_CODES) | {625}
SAME_NAME = ("delivered", "opened", "clicked", "unsubscribed", "complained")


class MailgunWebhook:
    """Verifies `{signature: {timestamp, token, signature}, event-data}` with the domain's signing key."""

    def __init__(self, signing_key: str, max_age: float):
        self._key = signing_key.encode()
        self.max_age = max_age

    def receive(self, body: bytes, headers: Mapping[str, str], now: float) -> Verdict:
        return verdict_of(lambda: self._receive(body, now))

    def _receive(self, body: bytes, now: float) -> Verdict:
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise malformed("the body must be a JSON object")
        signature = payload.get("signature")
        if not isinstance(signature, dict) or not all(isinstance(signature.get(k), str)
                                                      for k in ("timestamp", "token", "signature")):
            raise unauthenticated("no signature")
        expected = hmac.new(self._key, (signature["timestamp"] + signature["token"]).encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), signature["signature"].encode()):
            raise unauthenticated("wrong signature")
        try:
            signed_at = float(signature["timestamp"])
        except ValueError:
            raise unauthenticated("signed timestamp is not a number") from None
        check_fresh(signed_at, now, self.max_age)
        nonce = Nonce(signature["token"], hashlib.sha256(body).hexdigest())
        data = payload["event-data"]
        event = to_event(data)
        return Accepted(() if event is None else (event,), nonce=nonce, skipped=int(event is None))


def to_event(data: dict) -> Event | None:
    """One `event-data` as our Event; None for events we do not keep (accepted, stored, list events)."""
    kind = as_text(data["event"])
    status = data.get("delivery-status") or {}
    code = status.get("code")
    suppresses = None
    if kind in SAME_NAME:
        type_ = kind
    elif kind == "rejected":
        type_ = "dropped"
    elif kind == "failed" and data.get("severity") == "temporary":
        type_ = "deferred"
    elif kind == "failed" and code in DROPPED_CODES:
        type_, suppresses = "dropped", LISTED_CODES.get(code)
    elif kind == "failed":
        type_ = "bounced"
    else:
        return None
    if type_ in ("bounced", "complained", "unsubscribed"):
        suppresses = type_
    moment = datetime.fromtimestamp(float(data["timestamp"]), timezone.utc)
    # event-data.id is unique within a day only, hence the date in the key.
    id_ = event_id(PROVIDER, as_text(data["id"]), moment.date().isoformat())
    message_id = (data.get("message") or {}).get("headers", {}).get("message-id")
    variables = data.get("user-variables") or {}
    return Event(
        id=id_, type=type_, provider=PROVIDER,
        message_id=f"<{as_text(message_id)}>" if message_id is not None else None,
        recipient=as_text(data["recipient"]).lower(), occurred_at=rfc3339(moment), reason=_reason(data),
        metadata={str(k): str(v) for k, v in variables.items()},
        tags=tuple(str(t) for t in data.get("tags") or ()), suppresses=suppresses)


def _reason(data: dict) -> str | None:
    """The SMTP reply or Mailgun's own explanation (a click: its URL), when the event has one."""
    if data["event"] == "clicked":
        return data.get("url")
    status = data.get("delivery-status") or {}
    text = (status.get("message") or status.get("description") or (data.get("reject") or {}).get("reason")
            or data.get("reason"))
    if not text:
        return None
    return f"{status['code']} {text}" if status.get("code") else str(text)
