"""The Mailgun adapter: `POST /v3/{domain}/messages` as form fields, and what Mailgun's answers mean."""
from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from sendmailproxy.envreader import EnvReader
from sendmailproxy.message import Message
from sendmailproxy.providers.base import ACCEPTED, NOT_ACCEPTED, Outcome, ProviderOptions
from sendmailproxy.providers.httpanswers import Rule, body_text, json_body, status_outcome
from sendmailproxy.providers.httptransport import HttpProvider

# Where Mailgun's text changes what its status means; every other answer follows httpanswers.STATUSES.
SPECIAL_ANSWERS: dict[tuple[int, str], Rule] = {
    # A malformed path (a `/` in the domain, say) gets 200 and this page, and nothing is sent.
    (200, "Magnificent API"): Rule(NOT_ACCEPTED, "Mailgun answered 'Magnificent API': check the domain and base URL"),
    # Account or domain state (sandbox, unverified, disabled), not the caller's message.
    (400, "is not allowed to send"): Rule(NOT_ACCEPTED, "the domain or account may not send", operator_must_act=True),
}
TRY_AGAIN = re.compile(r"try again after (.+? UTC)")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def classify(response: requests.Response) -> Outcome:
    """Map one Mailgun answer to exactly one outcome class."""
    status, body = response.status_code, json_body(response)
    text = body["message"] if isinstance(body, dict) and isinstance(body.get("message"), str) else ""
    text = text or body_text(response)
    if status == 200 and isinstance(body, dict) and body.get("id") and text.startswith("Queued"):
        return Outcome(ACCEPTED, text, message_id=str(body["id"]), status=status)
    rule = next((rule for (code, words), rule in SPECIAL_ANSWERS.items() if code == status and words in text), None)
    return status_outcome(response, text, rule=rule, reset_at=_reset_at(text))


def _reset_at(text: str) -> float | None:
    # Mailgun puts the reset time only in the text: "... limit exceeded, try again after <RFC 2822 date> UTC".
    match = TRY_AGAIN.search(text)
    parsed = email.utils.parsedate_tz(match.group(1)) if match else None
    return float(email.utils.mktime_tz(parsed)) if parsed else None


@dataclass(frozen=True)
class MailgunSettings:
    """`SMSP_MG_*`: the sending domain, the API key, and the region's base URL."""

    domain: str = ""
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.mailgun.net"

    @classmethod
    def from_env(cls, env: EnvReader, required: bool) -> MailgunSettings:
        return cls(domain=env.required("SMSP_MG_DOMAIN", when=required),
                   api_key=env.required("SMSP_MG_API_KEY", when=required),
                   base_url=env.url("SMSP_MG_BASE_URL", cls.base_url))


class MailgunProvider(HttpProvider):
    """Sends through Mailgun; probes with `o:testmode=yes` (accepted and billed, never delivered)."""

    name = "mailgun"
    Settings = MailgunSettings

    def __init__(self, settings: MailgunSettings, options: ProviderOptions):
        super().__init__(options, settings.base_url, f"/v3/{settings.domain}/messages", settings.api_key)
        self._domain = settings.domain
        self._session.auth = ("api", settings.api_key)

    def __repr__(self) -> str:
        return f"MailgunProvider(base_url={self._base_url!r}, domain={self._domain!r})"

    def _payload(self, message: Message, test_mode: bool) -> dict[str, Any]:
        fields = [("from", str(message.sender))]
        fields += [(kind, str(address)) for kind in ("to", "cc", "bcc") for address in getattr(message, kind)]
        fields.append(("subject", message.subject))
        fields += [(kind, body) for kind, body in (("text", message.text), ("html", message.html)) if body]
        if message.reply_to:
            fields.append(("h:Reply-To", str(message.reply_to)))
        fields += [(f"h:{name}", value) for name, value in message.headers]
        fields += [("o:tag", tag) for tag in message.tags]
        fields += [(f"v:{key}", value) for key, value in message.metadata]  # user-variables in events
        if test_mode:
            fields.append(("o:testmode", "yes"))
        if message.attachments:  # multipart/form-data, which requests builds from `data` and `files`
            return {"data": fields, "files": [("attachment", (a.filename, a.content, a.content_type))
                                              for a in message.attachments]}
        # Url-encoded here: requests' generic form encoder costs three times as much per call.
        return {"data": urlencode(fields), "headers": FORM}

    _classify = staticmethod(classify)
