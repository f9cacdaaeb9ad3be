"""The SendGrid adapter: `POST /v3/mail/send` as v3 JSON, and what SendGrid's answers mean."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import requests

from sendmailproxy.envreader import EnvReader
from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers.base import ACCEPTED, AMBIGUOUS, Outcome, ProviderOptions
from sendmailproxy.providers.httpanswers import body_text, json_body, status_outcome
from sendmailproxy.providers.httptransport import HttpProvider


def classify(response: requests.Response) -> Outcome:
    """Map one SendGrid answer to exactly one outcome class (see SendGridProvider.send for a 200)."""
    if response.status_code in (200, 202):  # 202 queued; 200 is sandbox mode's "valid, not sent"
        return Outcome(ACCEPTED, message_id=response.headers.get("X-Message-Id") or None,
                       status=response.status_code)
    return status_outcome(response, _error_text(response), reset_at=_reset_at(response))


def _error_text(response: requests.Response) -> str:
    # Error bodies are {"errors": [{"message", "field", "help"}]}; anything else is shown as text.
    body = json_body(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return body_text(response)
    texts = []
    for error in errors:
        if isinstance(error, dict):
            field = f" (field: {error['field']})" if error.get("field") else ""
            texts.append(f"{error.get('message') or 'error'}{field}")
    return "; ".join(texts)


def _reset_at(response: requests.Response) -> float | None:
    try:
        return float(response.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return None


def _address(address: Address) -> dict[str, str]:
    return {"email": address.email, "name": address.name} if address.name else {"email": address.email}


@dataclass(frozen=True)
class SendGridSettings:
    """`SMSP_SG_*`: the API key and the region's base URL."""

    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.sendgrid.com"

    @classmethod
    def from_env(cls, env: EnvReader, required: bool) -> SendGridSettings:
        return cls(api_key=env.required("SMSP_SG_API_KEY", when=required),
                   base_url=env.url("SMSP_SG_BASE_URL", cls.base_url))


class SendGridProvider(HttpProvider):
    """Sends through SendGrid; probes in sandbox mode (validated, free, never delivered)."""

    name = "sendgrid"
    Settings = SendGridSettings

    def __init__(self, settings: SendGridSettings, options: ProviderOptions):
        super().__init__(options, settings.base_url, "/v3/mail/send", settings.api_key)
        self._session.headers["Authorization"] = f"Bearer {settings.api_key}"

    def send(self, message: Message) -> Outcome:
        """Send a real message: only a 202 takes it."""
        outcome = super().send(message)
        # A 200 answers sandbox mode (probes) alone; to a real send it is a 2xx we cannot trust (a proxy's
        # page, say), so whether the message went is unknown.
        if outcome.status == 200:
            return Outcome(AMBIGUOUS, "unexpected 200 to a real send (only sandbox mode answers 200)",
                           status=200)
        return outcome

    def _payload(self, message: Message, test_mode: bool) -> dict[str, Any]:
        personalization = {"to": [_address(a) for a in message.to]}
        for kind in ("cc", "bcc"):
            if getattr(message, kind):
                personalization[kind] = [_address(a) for a in getattr(message, kind)]
        if message.metadata:  # flattened into each event; in the personalization, which the spec types right
            personalization["custom_args"] = dict(message.metadata)
        bodies = (("text/plain", message.text), ("text/html", message.html))  # SendGrid requires this order
        payload: dict[str, Any] = {
            "personalizations": [personalization],
            "from": _address(message.sender),
            "subject": message.subject,
            "content": [{"type": kind, "value": body} for kind, body in bodies if body],
        }
        if message.reply_to:
            payload["reply_to"] = _address(message.reply_to)
        if message.attachments:
            payload["attachments"] = [_attachment(a) for a in message.attachments]
        if message.headers:
            payload["headers"] = dict(message.headers)
        if message.tags:
            payload["categories"] = list(dict.fromkeys(message.tags))  # SendGrid wants them unique
        if test_mode:
            payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
        return {"json": payload}

    _classify = staticmethod(classify)


def _attachment(attachment: Attachment) -> dict[str, str]:
    encoded = {"content": base64.b64encode(attachment.content).decode("ascii"), "filename": attachment.filename,
               "disposition": "attachment"}
    if attachment.content_type:  # the schema allows no empty type
        encoded["type"] = attachment.content_type
    return encoded
