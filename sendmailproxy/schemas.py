"""The marshmallow schema of POST /email, mirroring swagger.yaml; loading a request body yields a Message."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from sendmailproxy.message import Attachment, Message
from sendmailproxy.schemafields import (
    CONTENT_TYPE_PATTERN,
    MAX_RECIPIENTS,
    TAG_PATTERN,
    AddressField,
    Base64,
    Headers,
    Recipients,
    Text,
    matches,
)

# Limits: what both Mailgun and SendGrid accept (docs/provider-apis.md), so a caller's mistake
# is refused here and never reaches a provider or a circuit.
MAX_SUBJECT_CHARS = 998
MAX_TAGS = 3  # Mailgun's documented limit
MAX_FILENAME_CHARS = 255
MAX_OPTIONS_BYTES = 16_000  # Mailgun: every o:/h: parameter together, "16 kB"
MAX_CONTENT_BYTES = 25_000_000  # Mailgun's 25 MB message limit (SendGrid's is 30 MB)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _unique(values: list) -> None:
    if len(set(values)) < len(values):
        raise ValidationError("Items must be unique.")


def _utf8_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class AttachmentSchema(Schema):
    """One attachment: a file name, an optional MIME type and the base64 content."""

    filename = Text(required=True, header=True, validate=validate.Length(1, MAX_FILENAME_CHARS))
    contenttype = Text(header=True, allow_none=True,
                       validate=matches(CONTENT_TYPE_PATTERN, "Must look like type/subtype."))
    content = Base64(required=True)

    @post_load
    def make_attachment(self, data: dict, **kwargs) -> Attachment:
        return Attachment(data["filename"], data.get("contenttype") or DEFAULT_CONTENT_TYPE, data["content"])


class EmailSchema(Schema):
    """The body of POST /email. Unknown fields are refused: a typo in bccaddress must not drop a recipient."""

    fromaddress = AddressField(required=True, sender=True)
    toaddress = Recipients(required=True, min_items=1)
    ccaddress = Recipients(allow_none=True)
    bccaddress = Recipients(allow_none=True)
    replytoaddress = AddressField(allow_none=True)
    subject = Text(required=True, header=True, validate=validate.Length(1, MAX_SUBJECT_CHARS))
    plaintextbody = Text(allow_none=True)
    htmlbody = Text(allow_none=True)
    headers = Headers(allow_none=True)
    tags = fields.List(Text(validate=matches(TAG_PATTERN, "Must be 1 to 128 printable ASCII characters.")),
                       allow_none=True, validate=[validate.Length(max=MAX_TAGS), _unique])
    attachments = fields.List(fields.Nested(AttachmentSchema), allow_none=True)

    @validates_schema
    def check_body(self, data: dict, **kwargs) -> None:
        if not (data.get("plaintextbody") or data.get("htmlbody")):
            raise ValidationError("Give a non-empty plaintextbody or htmlbody, or both.")

    @validates_schema
    def check_recipients(self, data: dict, **kwargs) -> None:
        lists = {name: data.get(name) or () for name in ("toaddress", "ccaddress", "bccaddress")}
        if sum(map(len, lists.values())) > MAX_RECIPIENTS:
            raise ValidationError(
                f"At most {MAX_RECIPIENTS} addresses in toaddress, ccaddress and bccaddress together.")
        # SendGrid refuses an address that appears twice; Mailgun would quietly send once.
        seen: set[str] = set()
        errors: dict[str, list[str]] = {}
        for name, addresses in lists.items():
            for address in addresses:
                if address.email.lower() in seen:
                    errors.setdefault(name, []).append(
                        f"{address.email} already appears in toaddress, ccaddress or bccaddress.")
                seen.add(address.email.lower())
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def check_sizes(self, data: dict, **kwargs) -> None:
        # Counted as Mailgun sends them: h:<name>=<value> and o:tag=<tag>.
        options = sum(len(name) + 2 + _utf8_bytes(value) for name, value in data.get("headers") or ())
        options += sum(len("o:tag") + len(tag) for tag in data.get("tags") or ())
        if options > MAX_OPTIONS_BYTES:
            raise ValidationError(f"headers and tags together exceed {MAX_OPTIONS_BYTES} bytes.")
        content = sum(_utf8_bytes(data.get(body) or "") for body in ("plaintextbody", "htmlbody"))
        content += sum(len(attachment.content) for attachment in data.get("attachments") or ())
        if content > MAX_CONTENT_BYTES:
            raise ValidationError(
                f"Bodies and decoded attachments together exceed {MAX_CONTENT_BYTES} bytes.")

    @post_load
    def make_message(self, data: dict, **kwargs) -> Message:
        return Message(
            sender=data["fromaddress"],
            to=data["toaddress"],
            subject=data["subject"],
            text=data.get("plaintextbody") or None,
            html=data.get("htmlbody") or None,
            cc=data.get("ccaddress") or (),
            bcc=data.get("bccaddress") or (),
            reply_to=data.get("replytoaddress"),
            headers=data.get("headers") or (),
            tags=tuple(data.get("tags") or ()),
            attachments=tuple(data.get("attachments") or ()),
        )


EMAIL_SCHEMA = EmailSchema()
