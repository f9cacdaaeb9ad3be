"""The Amazon SES adapter: SES v2 `SendEmail` as SigV4-signed JSON, and what SES's answers mean.

botocore does two things here and nothing else: it finds credentials along the standard AWS chain (and
refreshes temporary ones), and it signs each request with SigV4. requests sends it, once, through the
pooled session every HTTP adapter uses. botocore's own client is never built, so its automatic retries,
which re-send read timeouts and 5xx (a duplicate email), never run.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from email.header import Header
from typing import Any

import botocore.session
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from sendmailproxy.envreader import EnvReader
from sendmailproxy.events.ses import META_PREFIX, encode_tag_value
from sendmailproxy.limits import Limits
from sendmailproxy.message import Attachment, Message
from sendmailproxy.providers import mime
from sendmailproxy.providers.base import ACCEPTED, NOT_ACCEPTED, REJECTED, Outcome, ProviderOptions
from sendmailproxy.providers.httpanswers import Rule, body_text, json_body, status_outcome
from sendmailproxy.providers.httptransport import HttpProvider, UnsignedError

SEND_PATH = "/v2/email/outbound-emails"
SIGNING_NAME = "ses"
SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
# Mail to this address is accepted and processed like real mail, and never delivered to anyone.
SIMULATOR = "success@simulator.amazonses.com"
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
TAG = r"^[A-Za-z0-9_-]{1,128}$"
# What Content.Simple can carry (the sesv2 model); anything else goes as Content.Raw MIME.
MAX_SIMPLE_HEADERS, MAX_SIMPLE_HEADER_VALUE, MAX_SIMPLE_HEADER_NAME, MAX_SIMPLE_CONTENT_TYPE = 15, 995, 126, 78

R = Rule
NA, REJ = NOT_ACCEPTED, REJECTED
CREDENTIALS = "credentials problem: the AWS key is unknown, expired or may not call ses:SendEmail"
# SES's own error codes (the sesv2 model's SendEmail errors, plus AWS's common authentication errors), by status.
ANSWERS: dict[tuple[int, str], Rule] = {
    (400, "BadRequestException"): R(REJ, "SES found the request invalid"),
    (400, "MessageRejected"): R(REJ, "SES rejected the message's content"),
    (400, "MailFromDomainNotVerifiedException"): R(NA, "the MAIL FROM domain is not verified in SES", True),
    (400, "AccountSuspendedException"): R(NA, "the SES account may no longer send", True),
    (400, "SendingPausedException"): R(NA, "sending is paused for the SES account or configuration set", True),
    (400, "LimitExceededException"): R(NA, "an SES limit was reached"),
    (404, "NotFoundException"): R(NA, "not found: check SMSP_SES_CONFIGURATION_SET and the region", True),
    (429, "TooManyRequestsException"): R(NA, "rate limited"),
    (400, "ExpiredTokenException"): R(NA, CREDENTIALS, True),
    (400, "IncompleteSignatureException"): R(NA, CREDENTIALS, True),
    (403, "InvalidClientTokenId"): R(NA, CREDENTIALS, True),
    (403, "UnrecognizedClientException"): R(NA, CREDENTIALS, True),
    (403, "AccessDeniedException"): R(NA, CREDENTIALS, True),
    (403, "SignatureDoesNotMatch"): R(NA, "the signature was refused: check the secret key and the clock", True),
    (403, "InvalidSignatureException"): R(NA, "the signature was refused: check the secret key and the clock", True),
}
# MessageRejected also says "Email address is not verified" for the sender, or (in the SES sandbox) a recipient.
NOT_VERIFIED = R(NA, "an address is not verified in SES (the sender, or a recipient while in the sandbox)", True)
UNKNOWN_400 = R(NA, "unknown SES error: nothing was accepted")  # an unknown 400 is not blamed on the caller


def classify(response: requests.Response) -> Outcome:
    """Map one SES answer to exactly one outcome class: by status and SES's error code, never status alone."""
    status, body = response.status_code, json_body(response)
    if status == 200 and isinstance(body, dict) and isinstance(body.get("MessageId"), str) and body["MessageId"]:
        return Outcome(ACCEPTED, message_id=body["MessageId"], status=status)
    code, text = _error(response, body)
    rule = ANSWERS.get((status, code))
    if code == "MessageRejected" and "not verified" in text:
        rule = NOT_VERIFIED
    elif rule is None and status == 400:
        rule = UNKNOWN_400
    return status_outcome(response, f"{code}: {text}" if code else text, rule=rule)


def _error(response: requests.Response, body: Any) -> tuple[str, str]:
    # As botocore's rest-json parser reads it: the x-amzn-ErrorType header ("Code:uri"), else the body's
    # code or __type ("namespace#Code"); the text is the body's message.
    body = body if isinstance(body, dict) else {}
    code = response.headers.get("x-amzn-ErrorType") or body.get("code") or body.get("Code") or body.get("__type")
    code = str(code).split(":", 1)[0].rsplit("#", 1)[-1] if code else ""
    text = body.get("message") or body.get("Message")
    return code, text if isinstance(text, str) else body_text(response)


@dataclass(frozen=True)
class SesSettings:
    """`SMSP_SES_*`: the region, the endpoint (the region's own by default) and an optional configuration set."""

    region: str = ""
    base_url: str = ""
    configuration_set: str = ""

    @classmethod
    def from_env(cls, env: EnvReader, required: bool) -> SesSettings:
        region = env.required("SMSP_SES_REGION", when=required)
        if region and not REGION.fullmatch(region):
            env.problem(f"SMSP_SES_REGION must be an AWS region such as eu-west-1, not {region!r}")
        return cls(region=region, base_url=env.url("SMSP_SES_BASE_URL", f"https://email.{region}.amazonaws.com"),
                   configuration_set=env.text("SMSP_SES_CONFIGURATION_SET"))


class SesProvider(HttpProvider):
    """Sends through Amazon SES v2; probes by sending to the mailbox simulator (billed, never delivered)."""

    name = "ses"
    Settings = SesSettings
    # 50 recipients per message; message tags take only letters, digits, _ and -.
    limits = Limits(recipients=50, tag_rules=((TAG, "SES takes only letters, digits, _ and - in tags"),))

    def __init__(self, settings: SesSettings, options: ProviderOptions):
        super().__init__(options, settings.base_url, SEND_PATH, secret="")  # the AWS secret is never in a reason
        self._region = settings.region
        self._configuration_set = settings.configuration_set
        self._credentials: Credentials | None = None  # found on first use, then refreshed by botocore
        # The body is sent as UTF-8 JSON: escaping non-ASCII would inflate it up to sixfold.
        self._session.headers["Content-Type"] = "application/json"

    def __repr__(self) -> str:
        return f"SesProvider(base_url={self._base_url!r}, region={self._region!r})"

    def _payload(self, message: Message, test_mode: bool) -> dict[str, Any]:
        if test_mode:
            destination = {"ToAddresses": [SIMULATOR]}
        else:
            destination = {f"{kind.capitalize()}Addresses": [str(a) for a in getattr(message, kind)]
                           for kind in ("to", "cc", "bcc") if getattr(message, kind)}
        payload: dict[str, Any] = {"FromEmailAddress": str(message.sender), "Destination": destination}
        if _simple_can_carry(message):
            payload["Content"] = {"Simple": _simple(message)}
            if message.reply_to:
                payload["ReplyToAddresses"] = [str(message.reply_to)]
        else:  # Reply-To travels in the MIME headers; Bcc only in Destination
            payload["Content"] = {"Raw": {"Data": base64.b64encode(mime.render(message)).decode("ascii")}}
        # Tags by position, so a configuration set can name its dimensions once: tag1, tag2, tag3. Metadata as
        # meta-<key>, its value encoded into the tag charset, so that the events give it back exactly.
        tags = [{"Name": f"tag{n}", "Value": tag} for n, tag in enumerate(message.tags, 1)]
        tags += [{"Name": META_PREFIX + key, "Value": encode_tag_value(value)} for key, value in message.metadata]
        if tags:
            payload["EmailTags"] = tags
        if self._configuration_set:
            payload["ConfigurationSetName"] = self._configuration_set
        return {"data": json.dumps(payload, ensure_ascii=False).encode()}

    _classify = staticmethod(classify)

    def _sign(self, prepared: requests.PreparedRequest) -> None:
        try:
            credentials = self._frozen_credentials()
        except (BotoCoreError, ClientError, RuntimeError) as error:  # RuntimeError: refreshed, still expired
            raise UnsignedError(f"AWS credentials: {type(error).__name__}: {error}") from error
        signed = AWSRequest(method=prepared.method, url=prepared.url, data=prepared.body,
                            headers={"Content-Type": prepared.headers["Content-Type"]})
        SigV4Auth(credentials, SIGNING_NAME, self._region).add_auth(signed)
        prepared.headers.update({name: signed.headers[name] for name in SIGNATURE_HEADERS if name in signed.headers})

    def _frozen_credentials(self) -> ReadOnlyCredentials:
        """This call's credentials, consistent with each other; no lock unless botocore must refresh them."""
        # Found on first use rather than at start, so a chain that is not ready yet (a web identity token not
        # mounted, a metadata service slow to answer) only fails calls until it is, never the start.
        credentials = self._credentials or botocore.session.Session().get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        self._credentials = credentials  # two threads may both look it up first: either answer is good
        return credentials.get_frozen_credentials()


def _simple_can_carry(message: Message) -> bool:
    return (len(message.headers) <= MAX_SIMPLE_HEADERS
            and all(len(name) <= MAX_SIMPLE_HEADER_NAME and len(_ascii_header(value)) <= MAX_SIMPLE_HEADER_VALUE
                    for name, value in message.headers)
            and all(len(a.content_type) <= MAX_SIMPLE_CONTENT_TYPE for a in message.attachments))


def _ascii_header(value: str) -> str:
    # Simple headers must be printable ASCII: others become one RFC 2047 encoded word, as a MIME writer would.
    return value if value.isascii() else Header(value, "utf-8").encode(maxlinelen=0)


def _simple(message: Message) -> dict[str, Any]:
    body = {kind: {"Data": text, "Charset": "UTF-8"}
            for kind, text in (("Text", message.text), ("Html", message.html)) if text}
    simple: dict[str, Any] = {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}
    if message.headers:
        simple["Headers"] = [{"Name": name, "Value": _ascii_header(value)} for name, value in message.headers]
    if message.attachments:
        simple["Attachments"] = [_attachment(a) for a in message.attachments]
    return simple


def _attachment(attachment: Attachment) -> dict[str, str]:
    return {"FileName": attachment.filename, "ContentType": attachment.content_type,
            "ContentDisposition": "ATTACHMENT",
            "RawContent": base64.b64encode(attachment.content).decode("ascii")}

