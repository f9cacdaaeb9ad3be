"""What one push carries: the event as an `EventNotification` body, and its Standard Webhooks headers."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Sequence

from sendmailproxy.events.model import Event


def body(event: Event) -> bytes:
    """The JSON body: {"type": "email.<type>", "timestamp": <occurred_at>, "data": <the Event as the feed shows it>}."""
    notification = {"type": f"email.{event.type}", "timestamp": event.occurred_at, "data": event.to_json()}
    return json.dumps(notification, separators=(",", ":"), ensure_ascii=False).encode()


def signature(keys: Sequence[bytes], webhook_id: str, timestamp: int, payload: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each key, space-separated (several while rotating)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + payload
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
                    for key in keys)


def headers(keys: Sequence[bytes], webhook_id: str, timestamp: int, payload: bytes) -> dict[str, str]:
    """The headers of one attempt: the same webhook-id on every retry, this attempt's timestamp and signatures."""
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(keys, webhook_id, timestamp, payload),
            "Content-Type": "application/json"}
