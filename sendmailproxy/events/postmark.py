"""Postmark's webhooks: no signature, HTTP Basic auth with the credentials set in the webhook's URL."""
from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Mapping

from .model import Event, event_id, parse_time, rfc3339
from .verdict import Accepted, Verdict, as_text, malformed, parse_json, unauthenticated, verdict_of

PROVIDER = "postmark"
_TAG_KEY = re.compile(r"tag(\d+)")  # our adapter's tags in Metadata: tag1..n (and the first as Tag)
# Bounce Type -> our type; any Type not listed (AutoResponder, Subscribe, AddressChange, ...) is skipped.
BOUNCE_TYPES = {
    "HardBounce": "bounced", "SoftBounce": "deferred", "Transient": "deferred", "DnsError": "deferred",
    "Blocked": "deferred", "DMARCPolicy": "deferred", "SpamNotification": "deferred", "VirusNotification": "deferred",
    "Unknown": "deferred", "BadEmailAddress": "dropped", "ManuallyDeactivated": "dropped",
    "SMTPApiError": "dropped", "TemplateRenderingFailed": "dropped", "SpamComplaint": "complained",
    "Unsubscribe": "unsubscribed",
}
# SubscriptionChange with SuppressSending: why Postmark put the address on its list.
SUPPRESSION_REASONS = {"HardBounce": "bounced", "SpamComplaint": "complained", "ManualSuppression": "unsubscribed"}


class PostmarkWebhook:
    """Accepts Postmark's POSTs that carry the configured Basic credentials."""

    def __init__(self, username: str, password: str):
        self._credentials = f"{username}:{password}".encode()

    def receive(self, body: bytes, headers: Mapping[str, str], now: float) -> Verdict:
        return verdict_of(lambda: self._receive(body, headers))

    def _receive(self, body: bytes, headers: Mapping[str, str]) -> Verdict:
        scheme, _, encoded = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            raise unauthenticated("no Basic credentials")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise unauthenticated("no Basic credentials") from None
        if not hmac.compare_digest(given, self._credentials):
            raise unauthenticated("wrong credentials")
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise malformed("the body must be a JSON object")
        event = to_event(payload)
        return Accepted(() if event is None else (event,), skipped=int(event is None))


def to_event(payload: dict) -> Event | None:
    """One Postmark record as our Event; None for those we do not keep."""
    kind = as_text(payload["RecordType"])
    suppresses, reason = None, None
    if kind == "Delivery":
        type_, recipient, at, reason = "delivered", payload["Recipient"], payload["DeliveredAt"], payload.get("Details")
    elif kind in ("Bounce", "SpamComplaint"):
        type_ = BOUNCE_TYPES.get(as_text(payload["Type"]))
        recipient, at = payload["Email"], payload["BouncedAt"]
        reason = payload.get("Details") or payload.get("Description")
    elif kind == "Open":
        type_, recipient, at = "opened", payload["Recipient"], payload["ReceivedAt"]
    elif kind == "Click":
        type_, recipient, at = "clicked", payload["Recipient"], payload["ReceivedAt"]
        reason = payload.get("OriginalLink")
    elif kind == "SubscriptionChange" and payload.get("SuppressSending") is True:
        type_, recipient, at = "dropped", payload["Recipient"], payload["ChangedAt"]
        reason = payload.get("SuppressionReason")
        suppresses = SUPPRESSION_REASONS.get(reason, "dropped")
    else:
        return None
    if type_ is None:
        return None
    if type_ in ("bounced", "complained", "unsubscribed"):
        suppresses = type_
    metadata = payload.get("Metadata") or {}
    numbered = sorted((int(m[1]), str(v)) for k, v in metadata.items() if (m := _TAG_KEY.fullmatch(k)))
    tags = tuple(v for _, v in numbered) or ((as_text(payload["Tag"]),) if payload.get("Tag") else ())
    # Postmark has no event id: a record is named by its kind, message, recipient, time and bounce ID or link.
    moment = parse_time(as_text(at))
    key = (kind, as_text(payload["MessageID"]), as_text(recipient).lower(), moment.isoformat(),
           str(payload.get("ID", "")), str(payload.get("OriginalLink", "")))
    return Event(
        id=event_id(PROVIDER, *key), type=type_, provider=PROVIDER, message_id=payload["MessageID"],
        recipient=as_text(recipient).lower(), occurred_at=rfc3339(moment), reason=str(reason) if reason else None,
        metadata={k: str(v) for k, v in metadata.items() if not _TAG_KEY.fullmatch(k)}, tags=tags,
        suppresses=suppresses)
