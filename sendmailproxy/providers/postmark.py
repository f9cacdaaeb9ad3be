"""The Postmark adapter: `POST /email` as JSON, and what Postmark's answers mean (by status and ErrorCode)."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import requests

from sendmailproxy.envreader import EnvReader
from sendmailproxy.limits import Limits
from sendmailproxy.message import Address, Message
from sendmailproxy.providers.base import ACCEPTED, NOT_ACCEPTED, REJECTED, Outcome, ProviderOptions
from sendmailproxy.providers.httpanswers import Rule, body_text, json_body, status_outcome
from sendmailproxy.providers.httptransport import HttpProvider

# Postmark accepts mail to this address like any other and delivers it to no one.
BLACKHOLE = "test@blackhole.postmarkapp.com"
TOKEN_HEADER = "X-Postmark-Server-Token"
METADATA_VALUE = r"^[ -~]{1,80}$"  # what one Metadata field holds: our tags are values there too

R = Rule
NA, REJ = NOT_ACCEPTED, REJECTED
BAD_TOKEN = R(NA, "credentials problem: the server token is missing or wrong", True)
# Postmark's ErrorCodes (its API overview), by status: most account trouble is a 422 like the caller's errors.
ANSWERS: dict[tuple[int, int], Rule] = {
    (401, 10): BAD_TOKEN,
    (422, 10): BAD_TOKEN,
    (422, 300): R(REJ, "Postmark found the email request invalid"),
    (422, 400): R(NA, "the sender signature was not found", True),
    (422, 401): R(NA, "the sender signature is not confirmed", True),
    (422, 402): R(REJ, "Postmark could not parse the JSON"),
    (422, 403): R(REJ, "Postmark found the JSON incompatible"),
    (422, 405): R(NA, "the account may not send (out of credits?)", True),
    (422, 406): R(REJ, "every recipient is inactive (hard bounce, spam complaint or suppression)"),
    (422, 409): R(REJ, "Postmark wants JSON"),
    (422, 411): R(REJ, "Postmark forbids this attachment type"),
    (422, 412): R(NA, "the account is pending approval", True),
    (422, 413): R(NA, "the account may not send", True),
    (422, 1235): R(NA, "the message stream does not exist on this server: check SMSP_PM_MESSAGE_STREAM", True),
    (429, 429): R(NA, "rate limited"),
    (503, 100): R(NA, "Postmark is down for maintenance"),  # its JSON says nothing was taken
}
# ErrorCode 300 also says "... is not a verified Sender Signature": the account's setup, not the message.
NOT_A_SENDER = R(NA, "the sender is not a confirmed sender signature", True)
UNKNOWN_400 = R(NA, "unknown Postmark error: nothing was accepted")  # an unknown 400 is not blamed on the caller


def classify(response: requests.Response) -> Outcome:
    """Map one Postmark answer to exactly one outcome class: by status and ErrorCode, never status alone."""
    status, body = response.status_code, json_body(response)
    body = body if isinstance(body, dict) else {}
    code, text = body.get("ErrorCode"), body.get("Message")
    text = text if isinstance(text, str) else body_text(response)
    message_id = body.get("MessageID")
    # "Message accepted, but delivery may be delayed." comes with no ErrorCode at all.
    if status == 200 and (code is None or (type(code) is int and code == 0)) and isinstance(message_id, str) \
            and message_id:
        return Outcome(ACCEPTED, text, message_id=message_id, status=status)
    rule = ANSWERS.get((status, code)) if type(code) is int else None
    if status == 422 and code == 300 and "sender signature" in text.lower():
        rule = NOT_A_SENDER
    elif rule is None and status == 400:
        rule = UNKNOWN_400
    # A 200 that is not an acceptance (an ErrorCode, no MessageID) falls to the status class: ambiguous.
    return status_outcome(response, f"ErrorCode {code}: {text}" if type(code) is int else text, rule=rule)


@dataclass(frozen=True)
class PostmarkSettings:
    """`SMSP_PM_*`: the server token, the base URL and the message stream."""

    server_token: str = field(default="", repr=False)
    base_url: str = "https://api.postmarkapp.com"
    message_stream: str = "outbound"

    @classmethod
    def from_env(cls, env: EnvReader, required: bool) -> PostmarkSettings:
        return cls(server_token=env.required("SMSP_PM_SERVER_TOKEN", when=required),
                   base_url=env.url("SMSP_PM_BASE_URL", cls.base_url),
                   message_stream=env.text("SMSP_PM_MESSAGE_STREAM", cls.message_stream) or cls.message_stream)


class PostmarkProvider(HttpProvider):
    """Sends through Postmark; probes by sending to its blackhole address (counted, never delivered)."""

    name = "postmark"
    Settings = PostmarkSettings
    # 10 MB per message after base64: attachments grow by a third, so 7 MB of content leaves room for the JSON
    # around it. 5 MB per body, and 50 addresses in each of To, Cc and Bcc. Metadata takes 10 fields of
    # values up to 80 characters, and holds the tags beside the metadata.
    limits = Limits(content_bytes=7_000_000, body_bytes=5_000_000, recipients_per_field=50,
                    tag_rules=((METADATA_VALUE, "Postmark takes at most 80 characters in a tag (it keeps tags in Metadata)"),),
                    tags_and_metadata=10)

    def __init__(self, settings: PostmarkSettings, options: ProviderOptions):
        super().__init__(options, settings.base_url, "/email", settings.server_token)
        self._message_stream = settings.message_stream
        self._session.headers.update({TOKEN_HEADER: settings.server_token, "Content-Type": "application/json"})

    def _payload(self, message: Message, test_mode: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {"From": str(message.sender),
                                   "To": BLACKHOLE if test_mode else _addresses(message.to)}
        for kind in ("cc", "bcc"):
            if getattr(message, kind):
                payload[kind.capitalize()] = _addresses(getattr(message, kind))
        payload["Subject"] = message.subject
        payload.update({kind: body for kind, body in (("TextBody", message.text), ("HtmlBody", message.html)) if body})
        if message.reply_to:
            payload["ReplyTo"] = str(message.reply_to)
        if message.headers:
            payload["Headers"] = [{"Name": name, "Value": value} for name, value in message.headers]
        if message.tags:  # Postmark takes one Tag: the first
            payload["Tag"] = message.tags[0]
        # Every tag is in Metadata too, by position (tag1, tag2, ...), beside the metadata.
        metadata = {**{f"tag{n}": tag for n, tag in enumerate(message.tags, 1)}, **dict(message.metadata)}
        if metadata:
            payload["Metadata"] = metadata
        if message.attachments:
            payload["Attachments"] = [{"Name": a.filename, "Content": base64.b64encode(a.content).decode("ascii"),
                                       "ContentType": a.content_type} for a in message.attachments]
        payload["MessageStream"] = self._message_stream
        # UTF-8 rather than \u escapes: they would inflate non-ASCII text up to sixfold against the 10 MB limit.
        return {"data": json.dumps(payload, ensure_ascii=False).encode()}

    _classify = staticmethod(classify)


def _addresses(addresses: tuple[Address, ...]) -> str:
    return ", ".join(map(str, addresses))
