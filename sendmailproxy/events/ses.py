"""Amazon SES events through SNS: both SES formats (notifications and event publishing), one event per
recipient, and the tag value encoding that lets metadata travel as SES EmailTags."""
from __future__ import annotations

import re
from typing import Mapping

from .model import Event, event_id, parse_time, rfc3339
from .sns import SnsVerifier
from .verdict import Accepted, Verdict, as_text, malformed, parse_json, unauthenticated, verdict_of

PROVIDER = "ses"
META_PREFIX = "meta-"  # metadata key k travels as the EmailTag meta-k
_TAG_NAME = re.compile(r"tag(\d+)")  # our adapter's tags: tag1..n
_PLAIN = re.compile(r"[A-Za-z0-9-]")
_ESCAPE = re.compile(r"__|_([0-9A-F]{2})")


def encode_tag_value(value: str) -> str:
    """A printable ASCII value in SES's tag charset [A-Za-z0-9_-]: `_` is `__`, any other character `_XX`."""
    return "".join(c if _PLAIN.fullmatch(c) else "__" if c == "_" else f"_{ord(c):02X}" for c in value)


def decode_tag_value(text: str) -> str:
    """The value `encode_tag_value` encoded; a text it could not have made is a ValueError."""
    decoded, position = [], 0
    while position < len(text):
        if text[position] != "_":
            decoded.append(text[position])
            position += 1
            continue
        match = _ESCAPE.match(text, position)
        if match is None:
            raise ValueError(f"not an encoded tag value: {text!r}")
        decoded.append("_" if match[1] is None else chr(int(match[1], 16)))
        position = match.end()
    return "".join(decoded)


class SesWebhook:
    """SES events from the listed SNS topics only (checked after the signature: anyone's topic signs)."""

    def __init__(self, topic_arns: tuple[str, ...], verifier: SnsVerifier, max_age: float):
        self.topic_arns, self._sns, self.max_age = frozenset(topic_arns), verifier, max_age

    def receive(self, body: bytes, headers: Mapping[str, str], now: float) -> Verdict:
        return verdict_of(lambda: self._receive(body, now))

    def _receive(self, body: bytes, now: float) -> Verdict:
        envelope = parse_json(body)  # SNS posts JSON as text/plain
        if not isinstance(envelope, dict):
            raise malformed("the body must be a JSON object")
        self._sns.verify(envelope, now, self.max_age)
        if envelope["TopicArn"] not in self.topic_arns:
            raise unauthenticated("TopicArn is not listed in SMSP_SES_SNS_TOPIC_ARNS")
        if envelope["Type"] == "SubscriptionConfirmation":
            if not self._sns.trusted(envelope["SubscribeURL"]):
                raise unauthenticated("SubscribeURL is not on an SNS host")
            return Accepted((), confirm_url=envelope["SubscribeURL"])
        if envelope["Type"] == "UnsubscribeConfirmation":
            return Accepted(())
        notification = parse_json(envelope["Message"].encode())
        if not isinstance(notification, dict):
            raise malformed("the SNS Message must be a JSON object")
        events = to_events(notification, envelope["MessageId"])
        return Accepted(events, skipped=int(not events))


def to_events(notification: dict, sns_message_id: str) -> tuple[Event, ...]:
    """One SES notification or published event as our Events, one per recipient; () for those we do not keep
    (Send, a Subscription change that is not an unsubscribe, unknown types)."""
    kind = as_text(notification.get("eventType") or notification.get("notificationType"))
    mail = notification["mail"]
    rows = _rows(kind, notification, mail)
    tags = mail.get("tags") or {}
    numbered = sorted((int(m[1]), values[0]) for name, values in tags.items() if (m := _TAG_NAME.fullmatch(name)))
    metadata = {name[len(META_PREFIX):]: _metadata_value(values[0])
                for name, values in tags.items() if name.startswith(META_PREFIX)}
    return tuple(
        Event(id=event_id(PROVIDER, sns_message_id, recipient.lower()), type=type_, provider=PROVIDER,
              message_id=as_text(mail["messageId"]), recipient=as_text(recipient).lower(),
              occurred_at=rfc3339(parse_time(at or mail["timestamp"])), reason=reason, metadata=metadata,
              tags=tuple(value for _, value in numbered), suppresses=suppresses)
        for type_, recipient, at, reason, suppresses in rows)


def _rows(kind: str, notification: dict, mail: dict) -> list[tuple]:
    """(type, recipient, time, reason, suppresses) for each recipient the event concerns."""
    everyone = mail["destination"]  # opens, clicks, rejects: SES does not say which recipient
    if kind == "Bounce":
        bounce = notification["bounce"]
        type_, suppresses = _bounce_type(bounce["bounceType"], bounce.get("bounceSubType"))
        return [(type_, r["emailAddress"], bounce.get("timestamp"),
                 r.get("diagnosticCode") or f"{bounce['bounceType']}/{bounce.get('bounceSubType')}", suppresses)
                for r in bounce["bouncedRecipients"]]
    if kind == "Complaint":  # most ISPs redact the complainer: every listed recipient is one event
        complaint = notification["complaint"]
        # The OnAccountSuppressionList subtype: SES did not send, the address is on the account's list.
        listed = complaint.get("complaintSubType") == "OnAccountSuppressionList"
        type_, suppresses = ("dropped", "dropped") if listed else ("complained", "complained")
        return [(type_, r["emailAddress"], complaint.get("timestamp"),
                 complaint.get("complaintFeedbackType") or complaint.get("complaintSubType"), suppresses)
                for r in complaint["complainedRecipients"]]
    if kind == "Delivery":
        delivery = notification["delivery"]
        return [("delivered", r, delivery.get("timestamp"), delivery.get("smtpResponse"), None)
                for r in delivery["recipients"]]
    if kind == "DeliveryDelay":
        delay = notification["deliveryDelay"]
        return [("deferred", r["emailAddress"], delay.get("timestamp"),
                 r.get("diagnosticCode") or delay.get("delayType"), None) for r in delay["delayedRecipients"]]
    if kind == "Reject":
        return [("dropped", r, None, notification["reject"].get("reason"), None) for r in everyone]
    if kind == "Rendering Failure":
        return [("dropped", r, None, notification["failure"].get("errorMessage"), None) for r in everyone]
    if kind == "Open":
        return [("opened", r, notification["open"].get("timestamp"), None, None) for r in everyone]
    if kind == "Click":
        click = notification["click"]
        return [("clicked", r, click.get("timestamp"), click.get("link"), None) for r in everyone]
    if kind == "Subscription" and notification["subscription"].get("newTopicPreferences", {}).get("unsubscribeAll"):
        subscription = notification["subscription"]
        return [("unsubscribed", r, subscription.get("timestamp"), None, "unsubscribed") for r in everyone]
    return []  # Send repeats our own 200; other types we do not keep


def _metadata_value(text: str) -> str:
    """A meta- tag's value decoded; one we did not encode (a tag set in SES itself) as it is, rather than
    refusing the event: SNS does not retry a 4xx, so a refusal would lose it."""
    try:
        return decode_tag_value(text)
    except ValueError:
        return text


def _bounce_type(bounce_type: str, sub_type: str | None) -> tuple[str, str | None]:
    """Our type and suppression for an SES bounce class."""
    if bounce_type == "Permanent" and sub_type == "OnAccountSuppressionList":
        return "dropped", "dropped"
    if bounce_type == "Permanent" and sub_type == "Suppressed":  # SES's global list: it expires by itself
        return "dropped", None
    if bounce_type == "Permanent":
        return "bounced", "bounced"
    return "deferred", None  # Transient, and Undetermined (not known to be permanent: no suppression)
