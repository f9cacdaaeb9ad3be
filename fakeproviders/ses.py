"""Amazon SES v2 `POST /v2/email/outbound-emails`: SigV4 checked with botocore, the sesv2 model's rules, SES's
errors; and SES events posted through SNS (fakeproviders/sns.py)."""

import base64
import binascii
import hmac
import itertools
import json
import re
import secrets
import time
from datetime import datetime, timezone
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

import botocore.session
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from .addresses import is_mailbox, split_mailboxes
from .http11 import Reply, Request, json_reply, reason
from . import ses_events
from .records import attachment_info, new_record
from .sns import SnsTopic
from .webhooks import WebhookError

NAME = "ses"
PATH = "/v2/email/outbound-emails"
DEFAULT_REGION = "us-east-1"
DEFAULT_KEY_ID = "AKIASMSPFAKE00000001"
DEFAULT_SECRET = "fake-ses-secret-key-0123456789"
DEFAULT_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:smsp-events"
MAX_REQUEST_BYTES = 40 * 1000 * 1000 * 4 // 3  # 40 MB of message after base64, inside JSON
MAX_RECIPIENTS = 50
MAX_HEADERS = 15
MAX_SKEW_S = 5 * 60
SIMULATOR_DOMAIN = "simulator.amazonses.com"
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})")
_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")
_HEADER_VALUE = re.compile(r"[ -~]{1,995}")
_INPUT = botocore.session.get_session().get_service_model("sesv2").operation_model("SendEmail").input_shape
_DEFAULT_ERRORS = {400: "BadRequestException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
                   404: "NotFoundException", 413: "RequestEntityTooLargeException", 429: "TooManyRequestsException",
                   500: "InternalServiceErrorException", 503: "ServiceUnavailableException"}
_DEFAULT_MESSAGES = {429: "Maximum sending rate exceeded.", 413: "Request entity too large",
                     401: "The security token included in the request is invalid."}
# The run-time account states the control API can switch on (mode "account").
ACCOUNT_ERRORS = {
    "suspended": (400, "AccountSuspendedException", "Sending for this account has been permanently restricted."),
    "paused": (400, "SendingPausedException", "Sending is paused for this account."),
    "not_allowed": (400, "MessageRejected", "Email address is not verified. The following identities failed the "
                    "check in region {region}: {sender}"),
    "bad_token": (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
}
_sequence = itertools.count(1)


class SesError(Exception):
    """An answer other than success: SES's status, error code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


class SesApi:
    """One SES account in one region, with one access key and a set of verified identities."""

    name = NAME
    max_body = MAX_REQUEST_BYTES
    # Command-line options (--ses-region, ...) and their defaults. Identities are addresses or domains.
    OPTIONS = {"ses_region": DEFAULT_REGION, "ses_access_key_id": DEFAULT_KEY_ID,
               "ses_secret_access_key": DEFAULT_SECRET, "ses_session_token": "", "ses_identities": "example.com",
               "ses_configuration_sets": "smsp", "ses_topic_arn": DEFAULT_TOPIC_ARN}
    ACCOUNT_ERRORS = ACCOUNT_ERRORS

    def __init__(self, region: str, key_id: str, secret: str, session_token: str, identities: str,
                 configuration_sets: str, sns: SnsTopic | None = None):
        self.region, self.sns = region, sns
        # Reported on the start line: where the SNS signing certificate is (its CA is smtp_ca_file).
        self.chosen_options = {"ses_cert_url_prefix": sns.cert_url_prefix} if sns else {}
        self._credentials = Credentials(key_id, secret, session_token)
        self._identities = {i.strip().lower() for i in identities.split(",") if i.strip()}
        self._configuration_sets = {c.strip() for c in configuration_sets.split(",") if c.strip()}

    @classmethod
    def from_options(cls, options: dict) -> "SesApi":
        return cls(options["ses_region"], options["ses_access_key_id"], options["ses_secret_access_key"],
                   options["ses_session_token"], options["ses_identities"], options["ses_configuration_sets"],
                   SnsTopic(options["ses_topic_arn"], options.get("host", "127.0.0.1")))

    @staticmethod
    def send_path(options: dict) -> str:
        return PATH

    @staticmethod
    def service_env(url: str, options: dict) -> dict[str, str]:
        """The service's variables that point it at this fake: SMSP_SES_* and the AWS credentials chain's."""
        return {"SMSP_SES_BASE_URL": url, "SMSP_SES_REGION": options["ses_region"],
                "AWS_ACCESS_KEY_ID": options["ses_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": options["ses_secret_access_key"],
                "AWS_SESSION_TOKEN": options["ses_session_token"], "AWS_EC2_METADATA_DISABLED": "true"}

    def handle(self, request: Request) -> tuple[Reply, dict | None]:
        """Answer one request as SES would; the record is set when a message was accepted."""
        try:
            if (request.method, request.path) != ("POST", PATH):
                raise SesError(404, "UnknownOperationException", "Unknown operation")
            self._authenticate(request)
            try:
                payload = json.loads(request.body)
            except ValueError:
                raise SesError(400, "SerializationException", "Could not parse the request body as JSON") from None
            message = self._validate(payload)
        except SesError as error:
            return self.error(error.status, str(error), code=error.code), None
        message_id = f"{int(time.time() * 1000):016x}-{secrets.token_hex(4)}-{next(_sequence):04d}-000000"
        return json_reply(200, {"MessageId": message_id}), _record(message_id, message)

    def webhook_keys(self) -> dict:
        return {"topic_arn": self.sns.topic_arn, "cert_url_prefix": self.sns.cert_url_prefix}

    def webhook_posts(self, request) -> list[tuple[bytes, dict]]:
        """One signed SNS notification per event, naming every recipient it concerns, as SES publishes them."""
        request.check_events(ses_events.WEBHOOK_EVENTS)
        version = request.params.get("signature_version", "1")
        if version not in ("1", "2"):
            raise WebhookError('signature_version must be "1" or "2"')
        return [(self.sns.notification(ses_events.event(name, request, self.region), request.now, version),
                 {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification",
                  "x-amz-sns-topic-arn": self.sns.topic_arn}) for name in request.events]

    def error(self, status: int, message: str | None = None, retry_after_s: float = 10,
              code: str | None = None) -> Reply:
        """SES's error shape: the code in x-amzn-ErrorType, `{"message"}` in the body (no rate-limit headers)."""
        code = code or _DEFAULT_ERRORS.get(status, reason(status).replace(" ", ""))
        return json_reply(status, {"message": message or _DEFAULT_MESSAGES.get(status) or reason(status)},
                          [("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"),
                           ("x-amzn-RequestId", secrets.token_hex(16))])

    def account_error(self, name: str) -> Reply:
        status, code, message = ACCOUNT_ERRORS[name]
        return self.error(status, message.format(region=self.region.upper(), sender="(the sender)"), code=code)

    def malformed(self) -> Reply:
        """A 200 without a MessageId: a reply the client must not trust."""
        return json_reply(200, {"Message": "OK"})

    def _authenticate(self, request: Request) -> None:
        """Check the SigV4 signature as AWS does, recomputing it with botocore from what arrived."""
        authorization = request.headers.get("authorization")
        if not authorization:
            raise SesError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTHORIZATION.fullmatch(authorization)
        if not match:
            raise SesError(400, "IncompleteSignatureException", f"Invalid Authorization header: {authorization[:40]}")
        key_id, day, region, service, signed, signature = match.groups()
        if key_id != self._credentials.access_key:
            raise SesError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if (region, service) != (self.region, "ses"):
            raise SesError(403, "InvalidSignatureException",
                           f"Credential should be scoped to a valid region and service: {region}/{service}")
        signed_headers = signed.split(";")
        stamp = request.headers.get("x-amz-date", "")
        if not {"host", "x-amz-date"} <= set(signed_headers) or not stamp.startswith(day):
            raise SesError(403, "InvalidSignatureException", "Host and X-Amz-Date must be signed, on the scope's day")
        try:
            skew = abs(time.time() - datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=timezone.utc).timestamp())
        except ValueError:
            raise SesError(403, "InvalidSignatureException", f"Bad X-Amz-Date {stamp!r}") from None
        if skew > MAX_SKEW_S:
            raise SesError(403, "InvalidSignatureException", f"Signature expired: {stamp} is out of range")
        if request.headers.get("x-amz-security-token", "") != self._credentials.token:  # temporary credentials
            raise SesError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        unsigned = AWSRequest(method=request.method, url=f"http://{request.headers.get('host', '')}{request.target}",
                              headers={name: request.headers.get(name, "") for name in signed_headers},
                              data=request.body)
        unsigned.context["timestamp"] = stamp
        signer = SigV4Auth(self._credentials, "ses", self.region)
        expected = signer.signature(signer.string_to_sign(unsigned, signer.canonical_request(unsigned)), unsigned)
        if not hmac.compare_digest(expected, signature):
            raise SesError(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided. Check "
                           "your AWS Secret Access Key and signing method.")

    def _validate(self, payload) -> dict:
        """The message SES would send, or the SesError it would answer with."""
        try:
            validate_parameters(payload, _INPUT)
        except ParamValidationError as error:
            raise SesError(400, "BadRequestException", str(error)) from None
        content = payload["Content"]
        if len(content) != 1:
            raise SesError(400, "BadRequestException", "Specify exactly one of Simple, Raw or Template content")
        if "Template" in content:
            raise SesError(404, "NotFoundException", "Template does not exist")
        configuration_set = payload.get("ConfigurationSetName")
        if configuration_set is not None and configuration_set not in self._configuration_sets:
            raise SesError(404, "NotFoundException", f"Configuration set <{configuration_set}> does not exist.")
        for tag in payload.get("EmailTags", []):
            if not (_TAG.fullmatch(tag["Name"]) and _TAG.fullmatch(tag["Value"])):
                raise SesError(400, "BadRequestException", f"Invalid tag: {tag['Name']}={tag['Value']}")
        message = _simple(content["Simple"]) if "Simple" in content else _raw(content["Raw"])
        if "FromEmailAddress" in payload:
            message["from"] = payload["FromEmailAddress"]
        destination = payload.get("Destination")
        if destination is not None:  # it replaces the MIME headers' recipients (and is the only place for Bcc)
            for kind in ("to", "cc", "bcc"):
                message[kind] = destination.get(f"{kind.capitalize()}Addresses", [])
        message["reply_to"] = ", ".join(payload.get("ReplyToAddresses", [])) or message.get("reply_to")
        # The tags are the adapter's tag1..n; its meta-<key> tags carry metadata, recorded with every tag by name.
        message["tags"] = [tag["Value"] for tag in payload.get("EmailTags", []) if not tag["Name"].startswith("meta-")]
        message["email_tags"] = {tag["Name"]: tag["Value"] for tag in payload.get("EmailTags", [])}
        self._check_addresses(message)
        return message

    def _check_addresses(self, message: dict) -> None:
        sender = message.get("from") or ""
        if not is_mailbox(sender):
            raise SesError(400, "BadRequestException", f"Missing or invalid From address: {sender!r}")
        recipients = message["to"] + message["cc"] + message["bcc"]
        if not recipients:
            raise SesError(400, "BadRequestException", "Destination must contain at least one recipient")
        if len(recipients) > MAX_RECIPIENTS:
            raise SesError(400, "MessageRejected", f"Recipient count exceeds {MAX_RECIPIENTS}.")
        for address in recipients:
            if not is_mailbox(address):
                raise SesError(400, "BadRequestException", f"Illegal address: {address}")
        email = _bare(sender).lower()
        if email not in self._identities and email.rpartition("@")[2] not in self._identities:
            raise SesError(400, "MessageRejected", "Email address is not verified. The following identities failed "
                                                   f"the check in region {self.region.upper()}: {email}")


def _bare(mailbox: str) -> str:
    return mailbox.rpartition("<")[2].rstrip(">").strip()


def _simple(simple: dict) -> dict:
    body = simple["Body"]
    if not body.get("Text") and not body.get("Html"):
        raise SesError(400, "BadRequestException", "Message body must contain Text or Html")
    headers = simple.get("Headers", [])
    if len(headers) > MAX_HEADERS or not all(_HEADER_VALUE.fullmatch(h["Value"]) for h in headers):
        raise SesError(400, "BadRequestException", f"At most {MAX_HEADERS} headers, with printable ASCII values")
    attachments = []
    for attachment in simple.get("Attachments", []):
        attachments.append(attachment_info(attachment["FileName"], attachment.get("ContentType"),
                                           _base64(attachment["RawContent"], "RawContent")))
    return {"subject": simple["Subject"]["Data"], "text": body.get("Text", {}).get("Data"),
            "html": body.get("Html", {}).get("Data"),
            "headers": {h["Name"]: str(make_header(decode_header(h["Value"]))) for h in headers},
            "attachments": attachments, "to": [], "cc": [], "bcc": []}


def _raw(raw: dict) -> dict:
    data = _base64(raw["Data"], "Raw.Data")
    if any(len(line) > 1000 for line in data.split(b"\n")):
        raise SesError(400, "MessageRejected", "Message lines may not exceed 1000 characters")
    mime = BytesParser(policy=policy.default).parsebytes(data)
    if mime.defects or not mime["From"]:
        raise SesError(400, "MessageRejected", "Invalid MIME message")
    bodies = {part.get_content_subtype(): part.get_content() for part in mime.walk()
              if part.get_content_maintype() == "text" and not part.is_attachment()}
    attachments = [attachment_info(part.get_filename(), part.get_content_type(), part.get_content())
                   for part in mime.iter_attachments()]
    return {"subject": mime["Subject"], "text": bodies.get("plain"), "html": bodies.get("html"),
            "headers": {name: str(value) for name, value in mime.items() if name.lower().startswith("x-")},
            "attachments": attachments, "from": str(mime["From"]), "reply_to": mime["Reply-To"] and str(mime["Reply-To"]),
            **{kind: split_mailboxes(str(mime[kind] or "")) for kind in ("to", "cc")}, "bcc": []}


def _base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SesError(400, "BadRequestException", f"{field} is not valid base64") from None


def _record(message_id: str, message: dict) -> dict:
    recipients = message["to"] + message["cc"] + message["bcc"]
    probe = all(_bare(address).lower().endswith("@" + SIMULATOR_DOMAIN) for address in recipients)
    return new_record(
        NAME, id=message_id, probe=probe, sender=message["from"], to=message["to"], cc=message["cc"],
        bcc=message["bcc"], subject=message["subject"], text=message["text"], html=message["html"],
        reply_to=message["reply_to"], headers=message["headers"], tags=message["tags"],
        attachments=message["attachments"], variables=message["email_tags"],
    )
