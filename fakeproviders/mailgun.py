"""Mailgun's `POST /v3/{domain}/messages`: its validation rules and response shapes."""

import base64
import itertools
import json
import re
import secrets
import time
from email.utils import formatdate
from urllib.parse import unquote

from .addresses import is_mailbox, split_mailboxes
from .forms import FormError, parse_form
from .http11 import Reply, Request, json_reply, reason, text_reply
from .records import attachment_info, new_record
from .signing import json_body, mailgun_signature

NAME = "mailgun"
DEFAULT_DOMAIN = "mg.example.com"
DEFAULT_KEY = "mg-test-key"
DEFAULT_WEBHOOK_KEY = "mg-test-webhook-signing-key"
MAX_REQUEST_BYTES = int(52.4 * 1024 * 1024)
MAX_RECIPIENTS = 1000
MAX_OPTIONS_BYTES = 16 * 1024
NEED_BODY = "Need at least one of 'text' or 'html' parameters specified"
NOT_ALLOWED = ("Free accounts are for test purposes only. Please upgrade or add the address "
               "to authorized recipients in Account Settings.")

_MESSAGES_PATH = re.compile(r"/v3/([^/]+)/messages")
_BODY_FIELDS = ("text", "html", "amp-html", "template")
_sequence = itertools.count(1)


class MailgunApi:
    """One Mailgun domain with one API key."""

    name = NAME
    max_body = MAX_REQUEST_BYTES
    # Command-line options (--mailgun-domain, --mailgun-key, --mailgun-webhook-key) and their defaults.
    OPTIONS = {"mailgun_domain": DEFAULT_DOMAIN, "mailgun_key": DEFAULT_KEY,
               "mailgun_webhook_key": DEFAULT_WEBHOOK_KEY}

    def __init__(self, domain: str, key: str, webhook_key: str = DEFAULT_WEBHOOK_KEY):
        self.domain, self.webhook_key = domain, webhook_key
        self._authorization = "Basic " + base64.b64encode(f"api:{key}".encode()).decode()

    @classmethod
    def from_options(cls, options: dict) -> "MailgunApi":
        return cls(options["mailgun_domain"], options["mailgun_key"], options["mailgun_webhook_key"])

    @staticmethod
    def send_path(options: dict) -> str:
        return f"/v3/{options['mailgun_domain']}/messages"

    @staticmethod
    def service_env(url: str, options: dict) -> dict[str, str]:
        """The service's SMSP_* variables that point it at this fake."""
        return {"SMSP_MG_BASE_URL": url, "SMSP_MG_DOMAIN": options["mailgun_domain"],
                "SMSP_MG_API_KEY": options["mailgun_key"]}

    def handle(self, request: Request) -> tuple[Reply, dict | None]:
        """Answer one request as Mailgun would; the record is set when a message was accepted."""
        match = _MESSAGES_PATH.fullmatch(request.path)
        if not match or "%2f" in match[1].lower():
            # The real quirk: a malformed path is a 200 that sent nothing.
            return text_reply(200, "Mailgun Magnificent API"), None
        if request.method != "POST":
            return self.error(405), None
        if request.headers.get("authorization") != self._authorization:
            return self.error(401), None
        domain = unquote(match[1])
        if domain.lower() != self.domain.lower():
            return self.error(404, f"Domain not found: {domain}"), None
        try:
            fields, files = parse_form(request.headers.get("content-type", ""), request.body)
        except FormError as exc:
            return self.error(400, str(exc)), None
        problem = _problem(fields)
        if problem:
            return self.error(400, problem), None
        day = time.strftime("%Y%m%d", time.gmtime())
        message_id = f"<{day}.{next(_sequence)}.{secrets.token_hex(6)}@{self.domain}>"
        reply = json_reply(200, {"id": message_id, "message": "Queued. Thank you."})
        return reply, _record(message_id, fields, files)

    def error(self, status: int, message: str | None = None, retry_after_s: float = 10) -> Reply:
        """Mailgun's body for a status: JSON `{"message"}`, except 401's plain `Forbidden`."""
        if status == 401:
            return text_reply(401, "Forbidden")
        if status in (420, 429) and message is None:
            until = formatdate(time.time() + retry_after_s, usegmt=True).removesuffix(" GMT")
            message = (f"Domain {self.domain} is not allowed to send: request limit exceeded, "
                       f"try again after {until} UTC")
        defaults = {404: f"Domain not found: {self.domain}", 413: "request size exceeds 52.4MiB limit"}
        return json_reply(status, {"message": message or defaults.get(status) or reason(status)})

    def not_allowed(self) -> Reply:
        return self.error(400, f"Domain {self.domain} is not allowed to send: {NOT_ALLOWED}")

    def malformed(self) -> Reply:
        """A 200 whose JSON body is cut short: a reply the client must not trust."""
        return Reply(200, b'{"id": "<2026', [("Content-Type", "application/json")])

    def webhook_keys(self) -> dict:
        return {"signing_key": self.webhook_key}

    def webhook_posts(self, request) -> list[tuple[bytes, dict]]:
        """One signed POST per event and recipient, each with a fresh token, as Mailgun sends them."""
        request.check_events(WEBHOOK_EVENTS)
        posts = []
        for name in request.events:
            for recipient in request.recipients:
                timestamp, token = str(int(request.now)), secrets.token_hex(25)
                signature = {"timestamp": timestamp, "token": token,
                             "signature": mailgun_signature(self.webhook_key, timestamp, token)}
                data = _event_data(name, request.record, recipient, request.now)
                posts.append((json_body({"signature": signature, "event-data": data}), {}))
        return posts


# The control API's event names -> Mailgun's event-data fields.
WEBHOOK_EVENTS = {
    "accepted": {"event": "accepted"},
    "delivered": {"event": "delivered", "delivery-status": {"code": 250, "message": "OK", "description": ""}},
    "bounce": {"event": "failed", "severity": "permanent", "reason": "bounce",
               "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist",
                                   "description": ""}},
    "soft_bounce": {"event": "failed", "severity": "temporary", "reason": "generic",
                    "delivery-status": {"code": 452, "message": "4.2.2 Mailbox full", "description": "",
                                        "retry-seconds": 600}},
    "dropped_bounced_address": {"event": "failed", "severity": "permanent", "reason": "suppress-bounce",
                                "delivery-status": {"code": 605, "message": "",
                                                    "description": "Not delivering to previously bounced address"}},
    "dropped_unsubscribed_address": {"event": "failed", "severity": "permanent", "reason": "suppress-unsubscribe",
                                     "delivery-status": {"code": 606, "message": "",
                                                         "description": "Not delivering to unsubscribed address"}},
    "dropped_complained_address": {"event": "failed", "severity": "permanent", "reason": "suppress-complaint",
                                   "delivery-status": {"code": 607, "message": "",
                                                       "description": "Not delivering to a user who marked your "
                                                                      "messages as spam"}},
    "complaint": {"event": "complained"},
    "unsubscribe": {"event": "unsubscribed"},
    "open": {"event": "opened", "ip": "192.0.2.1"},
    "click": {"event": "clicked", "ip": "192.0.2.1", "url": "https://example.com/"},
}


def _event_data(name: str, record: dict, recipient: str, now: float) -> dict:
    """Mailgun's `event-data` for one recipient of a recorded message (its message-id without brackets)."""
    return {
        **WEBHOOK_EVENTS[name], "id": secrets.token_urlsafe(16), "timestamp": now, "log-level": "info",
        "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2], "tags": record["tags"],
        "user-variables": record["variables"],
        "message": {"headers": {"message-id": record["id"].strip("<>"), "from": record["from"],
                                "to": ", ".join(record["to"]), "subject": record["subject"]}},
        "flags": {"is-test-mode": record["probe"]},
    }


def _problem(fields: list[tuple[str, str]]) -> str | None:
    """The first rule the fields break, in Mailgun's words; None when the message is acceptable."""
    values = _grouped(fields)
    if not values.get("from", [""])[0].strip():
        return "from parameter is missing"
    recipients = {kind: _mailboxes(values, kind) for kind in ("to", "cc", "bcc")}
    if not recipients["to"]:
        return "to parameter is missing"
    if not any(values.get(name, [""])[0] for name in _BODY_FIELDS):
        return NEED_BODY
    if sum(map(len, recipients.values())) > MAX_RECIPIENTS:
        return f"Too many recipients, max is {MAX_RECIPIENTS}"
    for kind, mailboxes in {"from": values["from"][:1], **recipients}.items():
        if not all(map(is_mailbox, mailboxes)):
            return f"{kind} parameter is not a valid address. please check documentation"
    options = [(k, v) for k, v in fields if k[:2] in ("o:", "h:", "v:", "t:")]
    if sum(len(k.encode()) + len(v.encode()) for k, v in options) > MAX_OPTIONS_BYTES:
        return "o:, h:, v: and t: parameters together exceed the 16kB limit"
    for name, _ in options:
        if name.startswith("h:") and not (name[2:].isascii() and name[2:].isprintable()):
            return f"header name must be ASCII: {name}"
    if "recipient-variables" in values:
        try:
            json.loads(values["recipient-variables"][0])
        except ValueError:
            return "recipient-variables parameter is not a valid JSON"
    return None


def _grouped(fields):
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name, []).append(value)
    return values


def _mailboxes(values, kind) -> list[str]:
    return [box for value in values.get(kind, []) for box in split_mailboxes(value)]


def _record(message_id: str, fields, files) -> dict:
    values = _grouped(fields)

    def first(name):
        return values.get(name, [None])[0]

    headers = {k[2:]: v for k, v in fields if k.startswith("h:")}
    reply_to = next((v for k, v in headers.items() if k.lower() == "reply-to"), None)
    return new_record(
        NAME, id=message_id, probe=(first("o:testmode") or "").lower() in ("yes", "true"),
        sender=first("from"), to=_mailboxes(values, "to"), cc=_mailboxes(values, "cc"),
        bcc=_mailboxes(values, "bcc"), subject=first("subject"), text=first("text"),
        html=first("html"), reply_to=reply_to, headers=headers, tags=values.get("o:tag", []),
        attachments=[attachment_info(f.filename, f.content_type, f.data)
                     for f in files if f.field in ("attachment", "inline") and f.filename],
        variables={k[2:]: v for k, v in fields if k.startswith("v:")},
    )
