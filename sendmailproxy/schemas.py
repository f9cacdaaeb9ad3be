"""The marshmallow schema of POST /email, mirroring swagger.yaml; loading a request body yields a Message."""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from sendmailproxy.limits import Limits
from sendmailproxy.message import Attachment, Message
from sendmailproxy.suppression.check import REFUSE, SKIP
from sendmailproxy.schemafields import (
    CONTENT_TYPE_PATTERN,
    TAG_PATTERN,
    AddressField,
    Base64,
    Headers,
    Metadata,
    Recipients,
    Text,
    matches,
)

# Limits: what every provider accepts (docs/provider-apis.md section 4), so a caller's mistake is refused
# here and never reaches a provider or a circuit. The configured providers may lower some of them (`Limits`).
MAX_SUBJECT_CHARS = 998
MAX_TAGS = 3  # Mailgun's documented limit
MAX_FILENAME_CHARS = 255
MAX_OPTIONS_BYTES = 16_000  # Mailgun: every o:/h: parameter together, "16 kB"
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
    """The body of POST /email. Unknown fields are refused: a typo in bccaddress must not drop a recipient.

    `limits` are what every configured provider takes (`Limits.common`): a message one of them would refuse
    for its size, recipients or tags is the caller's to fix, so it is refused here, before any send.
    """

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
    metadata = Metadata(allow_none=True)
    # What to do with recipients on the suppression list: a choice about this send, so not part of the Message.
    suppressed = fields.String(allow_none=True, validate=validate.OneOf((REFUSE, SKIP)))

    def __init__(self, *, limits: Limits = Limits(), **kwargs):
        super().__init__(**kwargs)
        self.limits = limits
        self.tag_rules = [(re.compile(pattern), words) for pattern, words in limits.tag_rules]

    @validates_schema
    def check_body(self, data: dict, **kwargs) -> None:
        if not (data.get("plaintextbody") or data.get("htmlbody")):
            raise ValidationError("Give a non-empty plaintextbody or htmlbody, or both.")

    @validates_schema
    def check_recipients(self, data: dict, **kwargs) -> None:
        lists = {name: data.get(name) or () for name in ("toaddress", "ccaddress", "bccaddress")}
        if sum(map(len, lists.values())) > self.limits.recipients:
            raise ValidationError(
                f"At most {self.limits.recipients} addresses in toaddress, ccaddress and bccaddress together.")
        crowded = [name for name, addresses in lists.items() if len(addresses) > self.limits.recipients_per_field]
        if crowded:
            raise ValidationError({name: [f"At most {self.limits.recipients_per_field} addresses."]
                                   for name in crowded})
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
        # Counted as Mailgun sends them: h:<name>=<value>, o:tag=<tag> and v:<key>=<value>.
        options = sum(len(name) + 2 + _utf8_bytes(value) for name, value in data.get("headers") or ())
        options += sum(len("o:tag") + len(tag) for tag in data.get("tags") or ())
        options += sum(len("v:") + len(key) + len(value) for key, value in data.get("metadata") or ())
        if options > MAX_OPTIONS_BYTES:
            raise ValidationError(f"headers, tags and metadata together exceed {MAX_OPTIONS_BYTES} bytes.")
        bodies = {name: _utf8_bytes(data.get(name) or "") for name in ("plaintextbody", "htmlbody")}
        oversized = [name for name, size in bodies.items() if size > self.limits.body_bytes]
        if oversized:
            raise ValidationError({name: [f"Longer than {self.limits.body_bytes} bytes as UTF-8."]
                                   for name in oversized})
        content = sum(bodies.values()) + sum(len(attachment.content) for attachment in data.get("attachments") or ())
        if content > self.limits.content_bytes:
            raise ValidationError(
                f"Bodies and decoded attachments together exceed {self.limits.content_bytes} bytes.")

    @validates_schema
    def check_tags(self, data: dict, **kwargs) -> None:
        broken = [f"{tag!r}: {words}" for tag in data.get("tags") or () for regex, words in self.tag_rules
                  if not regex.fullmatch(tag)]
        if broken:
            raise ValidationError({"tags": broken})

    @validates_schema
    def check_tags_and_metadata(self, data: dict, **kwargs) -> None:
        most = self.limits.tags_and_metadata
        if len(data.get("tags") or ()) + len(data.get("metadata") or ()) > most:
            raise ValidationError({"metadata": [
                f"At most {most} tags and metadata entries together: a configured provider keeps both in "
                f"{most} fields."]})

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
            metadata=data.get("metadata") or (),
        )

