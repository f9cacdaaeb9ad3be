"""SendGrid's Signed Event Webhook: ECDSA P-256/SHA-256 over the timestamp header and the raw body, a JSON array.

A batch with one malformed element is refused whole (400) and nothing of it is stored: the batch is signed as
a whole and SendGrid retries any non-2xx for 24 h, so after a parser fix the whole batch arrives again and is
deduped, while storing part of it would lose the malformed event for good. An event type we do not know is not
malformed: it is skipped and counted.
"""
from __future__ import annotations

import base64
from typing import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from .model import Event, event_id, rfc3339
from .verdict import (Accepted, Refusal, Verdict, as_text, check_fresh, malformed, parse_json, unauthenticated,
                      verdict_of)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# SendGrid's own fields in an event object; every other key is a custom arg we sent (our metadata).
EVENT_FIELDS = frozenset((
    "email", "timestamp", "event", "smtp-id", "sg_event_id", "sg_message_id", "sg_template_id",
    "sg_template_name", "sg_content_type", "sg_machine_open", "sg_user_id", "category", "reason", "status",
    "response", "attempt", "type", "bounce_classification", "useragent", "ip", "url", "url_offset", "tls",
    "cert_err", "asm_group_id", "marketing_campaign_id", "marketing_campaign_name",
    "marketing_campaign_version", "marketing_campaign_split_id", "mc_stats", "phase_id", "post_type",
    "send_at", "singlesend_id", "singlesend_name", "template_id", "template_version_id", "template_hash",
    "ab_variation", "ab_phase_id", "pool", "newsletter", "unique_args", "custom_args", "timestamp_ms",
))
SAME_NAME = {"delivered": "delivered", "deferred": "deferred", "open": "opened", "click": "clicked",
             "spamreport": "complained", "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed"}
# `dropped` reasons that say the address is on SendGrid's own list, and why we suppress it.
LISTED_REASONS = {"Bounced Address": "bounced", "Spam Reporting Address": "complained",
                  "Unsubscribed Address": "unsubscribed", "Invalid": "dropped"}


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The base64 DER SubjectPublicKeyInfo SendGrid's settings show, as a P-256 key; ValueError otherwise."""
    key = load_der_public_key(base64.b64decode(text.strip(), validate=True))
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an ECDSA P-256 public key")
    return key


class SendGridWebhook:
    """Verifies SendGrid's signed batches with the account's verification key."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey, max_age: float):
        self._key, self.max_age = public_key, max_age

    def receive(self, body: bytes, headers: Mapping[str, str], now: float) -> Verdict:
        return verdict_of(lambda: self._receive(body, headers, now))

    def _receive(self, body: bytes, headers: Mapping[str, str], now: float) -> Verdict:
        signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise unauthenticated("no signature")
        try:
            self._key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body,
                             ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):  # ValueError: not base64
            raise unauthenticated("wrong signature") from None
        try:
            signed_at = float(timestamp)
        except ValueError:
            raise unauthenticated("signed timestamp is not a number") from None
        check_fresh(signed_at, now, self.max_age)
        batch = parse_json(body)
        if not isinstance(batch, list):
            raise malformed("the body must be a JSON array")
        events = []
        for position, item in enumerate(batch):
            try:
                events.append(to_event(item))
            except (Refusal, KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
                raise malformed(f"event {position} is malformed ({type(exc).__name__} {exc}); "
                                "the batch is refused whole") from None
        kept = tuple(event for event in events if event is not None)
        return Accepted(kept, skipped=len(events) - len(kept))


def to_event(item: dict) -> Event | None:
    """One event object as our Event; None for events we do not keep: `processed` (it only repeats our own
    202), group_resubscribe, and types we do not know."""
    if not isinstance(item, dict):
        raise TypeError("an event must be an object")
    kind, recipient = as_text(item["event"]), as_text(item["email"]).lower()
    timestamp, sg_event_id = item["timestamp"], as_text(item["sg_event_id"])
    if type(timestamp) is not int:
        raise TypeError("timestamp must be an integer")
    suppresses, reason = None, item.get("reason") or item.get("response")
    if kind in SAME_NAME:
        type_ = SAME_NAME[kind]
    elif kind == "bounce":
        type_ = "deferred" if item.get("type") == "blocked" else "bounced"
    elif kind == "dropped":
        type_, suppresses = "dropped", LISTED_REASONS.get(item.get("reason"))
    else:
        return None
    if type_ in ("bounced", "complained", "unsubscribed"):
        suppresses = type_
    if kind == "click":
        reason = item.get("url")
    sg_message_id = item.get("sg_message_id")  # async bounces may have none
    category = item.get("category", [])
    return Event(
        id=event_id(PROVIDER, sg_event_id), type=type_, provider=PROVIDER,
        message_id=as_text(sg_message_id).split(".", 1)[0] if sg_message_id is not None else None,
        recipient=recipient, occurred_at=rfc3339(timestamp), reason=str(reason) if reason else None,
        metadata={k: str(v) for k, v in item.items() if k not in EVENT_FIELDS},
        tags=(category,) if isinstance(category, str) else tuple(as_text(c) for c in category),
        suppresses=suppresses)
