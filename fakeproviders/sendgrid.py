"""SendGrid's `POST /v3/mail/send`: its validation rules and response shapes."""

import json
import secrets
import time

from .addresses import format_mailbox
from .http11 import Reply, Request, json_reply, reason
from .records import attachment_info, new_record
from .sendgrid_rules import Invalid, decode_attachment, validate
from .signing import SendGridSigner, json_body

NAME = "sendgrid"
PATH = "/v3/mail/send"
DEFAULT_KEY = "sg-test-key"
MAX_REQUEST_BYTES = 30 * 1000 * 1000
INVALID_GRANT = "The provided authorization grant is invalid, expired, or revoked"

_DEFAULT_MESSAGES = {
    400: "Bad Request", 401: INVALID_GRANT, 403: "access forbidden",
    415: "Content-Type should be application/json.", 413: "content too large",
}


class SendGridApi:
    """One SendGrid account with one API key."""

    name = NAME
    max_body = MAX_REQUEST_BYTES
    OPTIONS = {"sendgrid_key": DEFAULT_KEY}  # command-line options and their defaults

    def __init__(self, key: str):
        self._authorization = f"Bearer {key}"
        self._signer = SendGridSigner()  # a new key per run; receivers read it from GET /webhooks/keys

    @classmethod
    def from_options(cls, options: dict) -> "SendGridApi":
        return cls(options["sendgrid_key"])

    @staticmethod
    def send_path(options: dict) -> str:
        return PATH

    @staticmethod
    def service_env(url: str, options: dict) -> dict[str, str]:
        """The service's SMSP_* variables that point it at this fake."""
        return {"SMSP_SG_BASE_URL": url, "SMSP_SG_API_KEY": options["sendgrid_key"]}

    def handle(self, request: Request) -> tuple[Reply, dict | None]:
        """Answer one request as SendGrid would; the record is set when a message was accepted."""
        if request.path != PATH:
            return self.error(404), None
        if request.method != "POST":
            return self.error(405), None
        authorization = request.headers.get("authorization")
        if not authorization:
            return self.error(401, "authorization required"), None
        if authorization != self._authorization:
            return self.error(401), None
        if request.content_type != "application/json":
            return self.error(415), None
        try:
            payload = json.loads(request.body)
        except ValueError:  # not JSON, or not even UTF-8
            return self.error(400), None
        try:
            validate(payload)
        except Invalid as exc:
            return self.error(400, str(exc), exc.field), None
        message_id = secrets.token_urlsafe(16)  # 22 characters, like SendGrid's
        probe = _sandboxed(payload)
        reply = Reply(200 if probe else 202, b"", [("X-Message-Id", message_id)])
        return reply, _record(message_id, probe, payload)

    def error(self, status: int, message: str | None = None, field: str | None = None,
              retry_after_s: float = 10) -> Reply:
        """SendGrid's `{"errors": [...]}` body for a status; 429 carries the rate-limit headers."""
        headers = []
        if status == 429:
            reset = int(time.time() + retry_after_s)
            headers = [("X-RateLimit-Limit", "600"), ("X-RateLimit-Remaining", "0"),
                       ("X-RateLimit-Reset", str(reset))]
        message = message or _DEFAULT_MESSAGES.get(status) or reason(status).lower()
        return json_reply(status, {"errors": [{"message": message, "field": field, "help": None}]},
                          headers)

    def malformed(self) -> Reply:
        """A 200 with an HTML body and no X-Message-Id: a reply the client must not trust."""
        return Reply(200, b"<html>oops", [("Content-Type", "text/html")])

    def webhook_keys(self) -> dict:
        return {"public_key": self._signer.public_key}

    def webhook_posts(self, request) -> list[tuple[bytes, dict]]:
        """Every event for every recipient in one signed batch, as SendGrid flushes them."""
        request.check_events(WEBHOOK_EVENTS)
        batch = [_event(name, request.record, recipient, request.now)
                 for name in request.events for recipient in request.recipients]
        body = json_body(batch)
        return [(body, self._signer.headers(body, int(request.now)))]


# The control API's event names -> SendGrid's event fields.
WEBHOOK_EVENTS = {
    "processed": {"event": "processed"},
    "delivered": {"event": "delivered", "response": "250 OK"},
    "soft_bounce": {"event": "deferred", "response": "452 4.2.2 Mailbox full", "attempt": "1"},
    "bounce": {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 User unknown"},
    "blocked": {"event": "bounce", "type": "blocked", "status": "4.0.0", "reason": "421 Try again later"},
    "dropped_bounced_address": {"event": "dropped", "reason": "Bounced Address"},
    "dropped_spam_reporting_address": {"event": "dropped", "reason": "Spam Reporting Address"},
    "dropped_unsubscribed_address": {"event": "dropped", "reason": "Unsubscribed Address"},
    "dropped_invalid": {"event": "dropped", "reason": "Invalid"},
    "complaint": {"event": "spamreport"},
    "unsubscribe": {"event": "unsubscribe"},
    "open": {"event": "open", "useragent": "Mozilla/5.0", "ip": "192.0.2.1"},
    "click": {"event": "click", "url": "https://example.com/", "useragent": "Mozilla/5.0", "ip": "192.0.2.1"},
}


def _event(name: str, record: dict, recipient: str, now: float) -> dict:
    """One event object: custom args flattened in (SendGrid's own fields win), categories as `category`."""
    return {**record["variables"], **WEBHOOK_EVENTS[name], "email": recipient, "timestamp": int(now),
            "smtp-id": f"<{record['id']}@ismtpd0001p1>", "category": record["tags"],
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": f"{record['id']}.filterdrecv-5645d9c87f-6p7lk-1-{int(now):X}-1.0"}


def _sandboxed(payload: dict) -> bool:
    # Only a real JSON true counts: the string "true" is not sandbox mode.
    return payload.get("mail_settings", {}).get("sandbox_mode", {}).get("enable") is True


def _record(message_id: str, probe: bool, payload: dict) -> dict:
    people = payload["personalizations"]
    boxes = {kind: [format_mailbox(a["email"], a.get("name")) for p in people for a in p.get(kind, [])]
             for kind in ("to", "cc", "bcc")}
    content = {item["type"].lower(): item["value"] for item in payload.get("content", [])}
    headers, variables = dict(payload.get("headers", {})), dict(payload.get("custom_args", {}))
    for personalization in people:
        headers.update(personalization.get("headers", {}))
        variables.update(personalization.get("custom_args", {}))
    reply_to = [payload["reply_to"]] if "reply_to" in payload else payload.get("reply_to_list", [])
    return new_record(
        NAME, id=message_id, probe=probe,
        sender=format_mailbox(payload["from"]["email"], payload["from"].get("name")),
        to=boxes["to"], cc=boxes["cc"], bcc=boxes["bcc"],
        subject=people[0].get("subject", payload.get("subject")),
        text=content.get("text/plain"), html=content.get("text/html"),
        reply_to=", ".join(format_mailbox(r["email"], r.get("name")) for r in reply_to) or None,
        headers=headers, tags=list(payload.get("categories", [])),
        attachments=[attachment_info(a["filename"], a.get("type"), decode_attachment(a["content"]))
                     for a in payload.get("attachments", [])],
        variables=variables,
    )
