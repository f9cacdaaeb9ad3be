"""Postmark's `POST /email`: its token check, validation rules, ErrorCodes and response shapes."""

import base64
import binascii
import json
import secrets
import uuid
from datetime import datetime, timezone

from .addresses import is_mailbox, split_mailboxes
from .http11 import Reply, Request, json_reply, reason, text_reply
from .records import attachment_info, new_record
from .signing import basic_auth, json_body
from .webhooks import WebhookError

NAME = "postmark"
PATH = "/email"
DEFAULT_TOKEN = "pm-test-token"
TEST_TOKEN = "POSTMARK_API_TEST"  # validates and accepts, delivers nothing, checks no account settings
BLACKHOLE_DOMAIN = "blackhole.postmarkapp.com"
MAX_REQUEST_BYTES = 10 * 1000 * 1000
MAX_BODY_BYTES = 5 * 1000 * 1000
MAX_RECIPIENTS_PER_FIELD = 50
MAX_TAG_CHARS = 1000
# Metadata: at most 10 fields, names up to 20 characters, values up to 80 (Postmark's documented limits).
MAX_METADATA_FIELDS, MAX_METADATA_NAME_CHARS, MAX_METADATA_VALUE_CHARS = 10, 20, 80
FORBIDDEN_EXTENSIONS = (".exe", ".bat", ".cmd", ".com", ".js", ".vbs", ".scr", ".msi")
NO_TOKEN = ("No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either "
            "X-Postmark-Server-Token or X-Postmark-Account-Token.")
BAD_TOKEN = ("The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify "
             "that you are using a valid token.")
_DEFAULT_ERRORS = {401: (10, BAD_TOKEN), 422: (300, "Invalid email request"), 429: (429, "Rate limit exceeded."),
                   503: (100, "Postmark is down for scheduled maintenance.")}
# The run-time account states the control API can switch on (mode "account").
ACCOUNT_ERRORS = {
    "bad_token": (401, 10, BAD_TOKEN),
    "not_allowed": (422, 405, "Not allowed to send: you have run out of credits."),
    "paused": (422, 412, "Your account is pending approval: you may only send to your own domain."),
    "suspended": (422, 413, "Your account may not send."),
}


class PostmarkError(Exception):
    """An answer other than success: the HTTP status, Postmark's ErrorCode and its Message."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code = status, code


class PostmarkApi:
    """One Postmark server with one server token, its confirmed sender signatures, streams and inactive addresses."""

    name = NAME
    max_body = MAX_REQUEST_BYTES
    # Command-line options (--postmark-token, ...) and their defaults; senders are addresses or domains.
    OPTIONS = {"postmark_token": DEFAULT_TOKEN, "postmark_senders": "example.com",
               "postmark_streams": "outbound", "postmark_inactive": "inactive@example.com"}
    ACCOUNT_ERRORS = ACCOUNT_ERRORS

    def __init__(self, token: str, senders: str, streams: str, inactive: str):
        self._token = token
        self._senders = _set(senders)
        self._streams = set(streams.split(","))
        self._inactive = _set(inactive)

    @classmethod
    def from_options(cls, options: dict) -> "PostmarkApi":
        return cls(options["postmark_token"], options["postmark_senders"], options["postmark_streams"],
                   options["postmark_inactive"])

    @staticmethod
    def send_path(options: dict) -> str:
        return PATH

    @staticmethod
    def service_env(url: str, options: dict) -> dict[str, str]:
        """The service's SMSP_* variables that point it at this fake."""
        return {"SMSP_PM_BASE_URL": url, "SMSP_PM_SERVER_TOKEN": options["postmark_token"]}

    def handle(self, request: Request) -> tuple[Reply, dict | None]:
        """Answer one request as Postmark would; the record is set when a message was accepted."""
        if request.path != PATH:
            return text_reply(404, "Not Found"), None
        if request.method != "POST":
            return text_reply(405, "Method Not Allowed"), None
        token = request.headers.get("x-postmark-server-token")
        if not token:
            return self.error(401, NO_TOKEN), None
        if token not in (self._token, TEST_TOKEN):
            return self.error(401), None
        try:
            if request.content_type != "application/json":
                raise PostmarkError(422, 409, "JSON required: send Content-Type: application/json.")
            try:
                payload = json.loads(request.body)
            except ValueError:
                raise PostmarkError(422, 402, "Received invalid JSON input.") from None
            if not isinstance(payload, dict):
                raise PostmarkError(422, 403, "Incompatible JSON input.")
            message = _validate(payload)
            if token != TEST_TOKEN:
                self._check_account(payload, message)
        except PostmarkError as error:
            return self.error(error.status, str(error), code=error.code), None
        if token == TEST_TOKEN:
            return _accepted("00000000-0000-0000-0000-000000000000", payload, "Test job accepted"), \
                _record("00000000-0000-0000-0000-000000000000", True, message)
        recipients = message["to"] + message["cc"] + message["bcc"]
        inactive = [address for address in recipients if _email(address) in self._inactive]
        if len(inactive) == len(recipients):
            return self.error(422, "You tried to send to recipient(s) that have been marked as inactive. Found "
                                   f"inactive addresses: {', '.join(map(_email, inactive))}. Inactive recipients are "
                                   "ones that have generated a hard bounce, a spam complaint, or a manual "
                                   "suppression.", code=406), None
        text = "OK"
        if inactive:
            text = ("Message OK, but will not deliver to these inactive addresses: "
                    f"{', '.join(map(_email, inactive))}.")
        message_id = str(uuid.uuid4())
        probe = all(_email(address).endswith("@" + BLACKHOLE_DOMAIN) for address in recipients)
        return _accepted(message_id, payload, text), _record(message_id, probe, message)

    def webhook_posts(self, request) -> list[tuple[bytes, dict]]:
        """One POST per event and recipient, with the Basic credentials given, as Postmark sends them."""
        request.check_events(WEBHOOK_EVENTS)
        username, password = request.params.get("username"), request.params.get("password")
        if not (isinstance(username, str) and isinstance(password, str)):
            raise WebhookError("Postmark webhooks need the username and password to post with")
        at = datetime.fromtimestamp(request.now, timezone.utc).isoformat().replace("+00:00", "Z")
        record = request.record
        common = {"MessageID": record["id"], "MessageStream": "outbound", "ServerID": 1,
                  "Metadata": record["variables"], "Tag": record["tags"][0] if record["tags"] else ""}
        return [(json_body({**common, **WEBHOOK_EVENTS[name](recipient, at)}),
                 {"Authorization": basic_auth(username, password)})
                for name in request.events for recipient in request.recipients]

    def error(self, status: int, message: str | None = None, retry_after_s: float = 10,
              code: int | None = None) -> Reply:
        """Postmark's `{"ErrorCode", "Message"}` body (no rate-limit headers); a 403 is its security layer's HTML."""
        if status == 403:
            return text_reply(403, "<html><body><h1>403 Forbidden</h1></body></html>", "text/html")
        default_code, default_message = _DEFAULT_ERRORS.get(status, (None, reason(status)))
        body = {"ErrorCode": default_code if code is None else code, "Message": message or default_message}
        return json_reply(status, {k: v for k, v in body.items() if v is not None})

    def account_error(self, name: str) -> Reply:
        status, code, message = ACCOUNT_ERRORS[name]
        return self.error(status, message, code=code)

    def malformed(self) -> Reply:
        """A 200 whose JSON body is cut short: a reply the client must not trust."""
        return Reply(200, b'{"To": "x", "MessageID": "b7bc', [("Content-Type", "application/json")])

    def _check_account(self, payload: dict, message: dict) -> None:
        sender = _email(message["from"])
        if sender not in self._senders and sender.rpartition("@")[2] not in self._senders:
            raise PostmarkError(422, 400, f"The 'From' address you supplied ({message['from']}) is not a Sender "
                                          "Signature on your account. Please add and confirm this address in order "
                                          "to be able to use it in the 'From' field of your messages.")
        if payload.get("MessageStream", "outbound") not in self._streams:
            raise PostmarkError(422, 1235, "The 'MessageStream' provided does not exist on this server.")


def _validate(payload: dict) -> dict:
    """The message Postmark would send, or the PostmarkError (ErrorCode 300, 411 or 403) it would answer with."""
    for name in ("From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "TextBody", "HtmlBody", "Tag", "MessageStream"):
        if not isinstance(payload.get(name, ""), str):
            raise PostmarkError(422, 403, f"Incompatible JSON input: {name} must be a string.")
    sender = payload.get("From", "")
    if not is_mailbox(sender):
        raise PostmarkError(422, 300, f"Invalid 'From' address: '{sender}'.")
    boxes = {kind: split_mailboxes(payload.get(kind, "")) for kind in ("To", "Cc", "Bcc")}
    if not boxes["To"] and not boxes["Cc"] and not boxes["Bcc"]:
        raise PostmarkError(422, 300, "Zero recipients specified")
    for kind, addresses in boxes.items():
        if len(addresses) > MAX_RECIPIENTS_PER_FIELD:
            raise PostmarkError(422, 300, f"Too many {kind} recipients: at most {MAX_RECIPIENTS_PER_FIELD}.")
        for address in addresses:
            if not is_mailbox(address):
                raise PostmarkError(422, 300, f"Invalid '{kind}' address: '{address}'.")
    if not payload.get("TextBody") and not payload.get("HtmlBody"):
        raise PostmarkError(422, 300, "Provide either email TextBody or HtmlBody or both.")
    if any(len(payload.get(body, "").encode()) > MAX_BODY_BYTES for body in ("TextBody", "HtmlBody")):
        raise PostmarkError(422, 300, "TextBody and HtmlBody may each be at most 5 MB.")
    if len(payload.get("Tag", "")) > MAX_TAG_CHARS:
        raise PostmarkError(422, 300, f"Tag may be at most {MAX_TAG_CHARS} characters.")
    headers = _list_of(payload, "Headers", ("Name", "Value"))
    metadata = payload.get("Metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise PostmarkError(422, 403, "Incompatible JSON input: Metadata must map names to strings.")
    if len(metadata) > MAX_METADATA_FIELDS or any(
            len(name) > MAX_METADATA_NAME_CHARS or len(value) > MAX_METADATA_VALUE_CHARS
            for name, value in metadata.items()):
        raise PostmarkError(422, 300, f"Metadata may have at most {MAX_METADATA_FIELDS} fields, with names of at "
                                      f"most {MAX_METADATA_NAME_CHARS} characters and values of at most "
                                      f"{MAX_METADATA_VALUE_CHARS}.")
    attachments = []
    for attachment in _list_of(payload, "Attachments", ("Name", "Content", "ContentType")):
        if attachment["Name"].lower().endswith(FORBIDDEN_EXTENSIONS):
            raise PostmarkError(422, 411, f"Forbidden attachment type: {attachment['Name']}")
        try:
            content = base64.b64decode(attachment["Content"], validate=True)
        except (binascii.Error, ValueError):
            raise PostmarkError(422, 300, f"Attachment {attachment['Name']} is not valid base64.") from None
        attachments.append(attachment_info(attachment["Name"], attachment["ContentType"], content))
    return {"from": sender, "to": boxes["To"], "cc": boxes["Cc"], "bcc": boxes["Bcc"],
            "subject": payload.get("Subject"), "text": payload.get("TextBody"), "html": payload.get("HtmlBody"),
            "reply_to": payload.get("ReplyTo"), "headers": {h["Name"]: h["Value"] for h in headers},
            "tags": [payload["Tag"]] if payload.get("Tag") else [], "metadata": metadata,
            "attachments": attachments}


def _bounce(bounce_type: str, code: int, details: str, record_type: str = "Bounce"):
    return lambda recipient, at: {
        "RecordType": record_type, "ID": secrets.randbelow(2**62), "Type": bounce_type, "TypeCode": code,
        "Email": recipient, "BouncedAt": at, "Details": details, "Description": details, "Inactive": code == 1,
        "CanActivate": True, "DumpAvailable": False}


def _subscription_change(reason: str):
    return lambda recipient, at: {"RecordType": "SubscriptionChange", "Recipient": recipient, "ChangedAt": at,
                                  "Origin": "Recipient", "SuppressSending": True, "SuppressionReason": reason}


# The control API's event names -> Postmark's record for one recipient at one time.
WEBHOOK_EVENTS = {
    "delivered": lambda recipient, at: {"RecordType": "Delivery", "Recipient": recipient, "DeliveredAt": at,
                                        "Details": "Test delivery webhook details"},
    "bounce": _bounce("HardBounce", 1, "smtp;550 5.1.1 The email account that you tried to reach does not exist"),
    "soft_bounce": _bounce("SoftBounce", 4096, "smtp;452 4.2.2 Mailbox full"),
    "complaint": _bounce("SpamComplaint", 512, "The recipient marked the message as spam", "SpamComplaint"),
    "open": lambda recipient, at: {"RecordType": "Open", "Recipient": recipient, "ReceivedAt": at,
                                   "FirstOpen": True, "Platform": "Desktop", "UserAgent": "Mozilla/5.0"},
    "click": lambda recipient, at: {"RecordType": "Click", "Recipient": recipient, "ReceivedAt": at,
                                    "OriginalLink": "https://example.com/", "ClickLocation": "HTML"},
    "dropped_hard_bounce": _subscription_change("HardBounce"),
    "dropped_spam_complaint": _subscription_change("SpamComplaint"),
    "unsubscribe": _subscription_change("ManualSuppression"),
}


def _list_of(payload: dict, name: str, keys: tuple[str, ...]) -> list[dict]:
    items = payload.get(name, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) and all(isinstance(item.get(k), str)
                                                                             for k in keys) for item in items):
        raise PostmarkError(422, 403, f"Incompatible JSON input: {name} must be a list of {{{', '.join(keys)}}}.")
    return items


def _email(mailbox: str) -> str:
    return mailbox.rpartition("<")[2].rstrip(">").strip().lower()


def _set(text: str) -> set[str]:
    return {item.strip().lower() for item in text.split(",") if item.strip()}


def _accepted(message_id: str, payload: dict, text: str) -> Reply:
    submitted = datetime.now(timezone.utc).isoformat()
    return json_reply(200, {"To": payload.get("To", ""), "SubmittedAt": submitted, "MessageID": message_id,
                            "ErrorCode": 0, "Message": text})


def _record(message_id: str, probe: bool, message: dict) -> dict:
    return new_record(
        NAME, id=message_id, probe=probe, sender=message["from"], to=message["to"], cc=message["cc"],
        bcc=message["bcc"], subject=message["subject"], text=message["text"], html=message["html"],
        reply_to=message["reply_to"], headers=message["headers"], tags=message["tags"],
        attachments=message["attachments"], variables=message["metadata"],
    )
