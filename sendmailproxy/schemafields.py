"""The custom marshmallow fields of the API, and the patterns they share with swagger.yaml."""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from marshmallow import ValidationError, fields

from sendmailproxy.events.sendgrid import EVENT_FIELDS
from sendmailproxy.limits import Limits
from sendmailproxy.message import Address

MAX_ADDRESS_CHARS = 254
MAX_RECIPIENTS = Limits.recipients  # to + cc + bcc, for every provider (some lower it: see Limits)

# These patterns appear verbatim in swagger.yaml (tests/api/test_spec.py checks it), so they use only
# syntax that ECMA-262 and Python share. Addresses are matched whole rather than with parseaddr,
# which reads "a@x.org, b@y.org" as just a@x.org and would silently drop a recipient.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILBOX = _ATOM + r"(?:\." + _ATOM + r")*@(?:" + _LABEL + r"\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])"
# Display names may not hold quotes, brackets or control characters, nor `;` or `,` (SendGrid); unquoted,
# not `@` either, so that "a@x.org <b@y.org>" is refused rather than read one way or the other.
_NAME_CHAR = r'[^"\\<>,;\x00-\x1f\x7f]'
_BARE_NAME_CHAR = r'[^"\\<>,;@\x00-\x1f\x7f]'
# The same, printable ASCII only: SendGrid's rule for `from`.
_ASCII_NAME_CHAR = r"[ !#-+\--:=?-\[\]-~]"
_ASCII_BARE_NAME_CHAR = r"[ !#-+\--:=?A-\[\]-~]"


def _address_pattern(name_char: str, bare_name_char: str) -> str:
    return f'^(?:({_MAILBOX})|(?:"({name_char}*)" *|({bare_name_char}*))<({_MAILBOX})>)$'


ADDRESS_PATTERN = _address_pattern(_NAME_CHAR, _BARE_NAME_CHAR)
MAILBOX_PATTERN = f"^{_MAILBOX}$"  # a bare address, no name: the admin API's {address}
SENDER_PATTERN = _address_pattern(_ASCII_NAME_CHAR, _ASCII_BARE_NAME_CHAR)
HEADER_NAME_PATTERN = r"^[Xx]-[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
RESERVED_HEADER_PATTERN = r"^[Xx]-[Ss][Gg]-[Ee]?[Ii][Dd]$"  # X-SG-ID and X-SG-EID: SendGrid will not let us set them
TAG_PATTERN = r"^[ -~]{1,128}$"
# A field that becomes a header or a header parameter (a subject, a header's value, a file name) holds no
# control character: CR or LF would inject a header, and any other one is refused by strict parsers
# (Mailgun's multipart part headers).
HEADER_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
# Metadata comes back in every provider's events exactly as sent: Postmark's Metadata takes 10 fields of
# names up to 20 characters and values up to 80; SES's tag charset is met by encoding the values.
MAX_METADATA = 10
METADATA_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,20}$"
METADATA_VALUE_PATTERN = r"^[ -~]{1,80}$"
# Keys a provider's events would not give back as metadata: SendGrid's own event fields (custom args come
# back beside them, and SendGrid's win), and tag1, tag2, ... (our tags' names in Postmark's Metadata).
RESERVED_METADATA_KEYS = tuple(sorted(EVENT_FIELDS))
RESERVED_METADATA_KEY_PATTERN = r"^tag[0-9]+$"


def _string(value: object) -> str:
    """A JSON string that can be sent as UTF-8 (the escape \\ud800 gives a lone surrogate, which cannot)."""
    if not isinstance(value, str):
        raise ValidationError("Not a valid string.")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValidationError("Not valid Unicode: contains a lone surrogate.") from None
    return value


def matches(pattern: str, message: str) -> Callable[[str], None]:
    """A validator that fullmatches (a bare `$` would also accept a trailing newline)."""
    regex = re.compile(pattern)

    def check(value: str) -> None:
        if not regex.fullmatch(value):
            raise ValidationError(message)

    return check


class Text(fields.Field):
    """A string; `header=True` also refuses control characters, for a string that goes into a mail header."""

    header_text = re.compile(HEADER_TEXT_PATTERN)

    def __init__(self, *, header: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.header = header

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = _string(value)
        if self.header and not self.header_text.fullmatch(text):
            raise ValidationError("Must not contain control characters (U+0000 to U+001F, U+007F).")
        return text


class AddressField(fields.Field):
    """`a@example.com` or `Name <a@example.com>`, as an Address."""

    def __init__(self, *, sender: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.regex = re.compile(SENDER_PATTERN if sender else ADDRESS_PATTERN)
        self.error = ("Not a valid address: use a@example.com or Name <a@example.com>; a name may not contain"
                      ' " < > , ; or control characters' + (" and must be ASCII." if sender else "."))

    def _deserialize(self, value, attr, data, **kwargs) -> Address:
        text = _string(value)
        if len(text) > MAX_ADDRESS_CHARS:
            raise ValidationError(f"Longer than {MAX_ADDRESS_CHARS} characters.")
        match = self.regex.fullmatch(text)
        if not match:
            raise ValidationError(self.error)
        bare, quoted_name, name, email = match.groups()
        if bare:
            return Address(bare)
        return Address(email, (quoted_name if quoted_name is not None else name).strip())


class Recipients(fields.Field):
    """One address or a list of them (the original API took a single string)."""

    def __init__(self, *, min_items: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.min_items = min_items
        self.address = AddressField()

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[Address, ...]:
        if isinstance(value, str):
            return (self.address.deserialize(value),)
        if not isinstance(value, list):
            raise ValidationError("Not a valid address or list of addresses.")
        if not self.min_items <= len(value) <= MAX_RECIPIENTS:
            raise ValidationError(f"Give {self.min_items} to {MAX_RECIPIENTS} addresses.")
        addresses, errors = [], {}
        for index, item in enumerate(value):
            try:
                addresses.append(self.address.deserialize(item))
            except ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors)
        return tuple(addresses)


class HeaderName(fields.Field):
    """A custom `X-` header name that SendGrid does not reserve."""

    regex = re.compile(HEADER_NAME_PATTERN)
    reserved = re.compile(RESERVED_HEADER_PATTERN)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        name = _string(value)
        if not self.regex.fullmatch(name):
            raise ValidationError("Must be X- followed by letters, digits or !#$%&'*+.^_`|~-.")
        if self.reserved.fullmatch(name):
            raise ValidationError("Reserved by the mail provider.")
        return name


class Headers(fields.Dict):
    """Custom headers, as (name, value) pairs."""

    def __init__(self, **kwargs):
        super().__init__(keys=HeaderName(), values=Text(header=True), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[tuple[str, str], ...]:
        headers = super()._deserialize(value, attr, data, **kwargs)
        if len({name.lower() for name in headers}) < len(headers):
            raise ValidationError("Header names must be unique, ignoring case.")
        return tuple(headers.items())


class Base64(fields.Field):
    """Non-empty, strictly padded standard base64, as bytes."""

    def _deserialize(self, value, attr, data, **kwargs) -> bytes:
        text = _string(value)
        # validate=True still lets a stray "=" through when the length is off; whole quanta keep it strict.
        if not text or len(text) % 4:
            raise ValidationError("Not valid base64: expected padded groups of 4 characters.")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Not valid base64.") from None


class MetadataKey(fields.Field):
    """A metadata key that every provider gives back in its events as it was sent."""

    regex = re.compile(METADATA_KEY_PATTERN)
    reserved = re.compile(RESERVED_METADATA_KEY_PATTERN)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        key = _string(value)
        if not self.regex.fullmatch(key):
            raise ValidationError("Must be 1 to 20 characters of A-Z a-z 0-9 _ -.")
        if key in RESERVED_METADATA_KEYS:
            raise ValidationError("Reserved: SendGrid's events use this name for their own field.")
        if self.reserved.fullmatch(key):
            raise ValidationError("Reserved: tag1, tag2, ... carry the tags in Postmark's Metadata.")
        return key


class Metadata(fields.Dict):
    """Up to 10 key-value strings that come back in the message's events, as (key, value) pairs sorted by key:
    the order of a JSON object is spelling, not part of the message."""

    def __init__(self, **kwargs):
        values = Text(validate=matches(METADATA_VALUE_PATTERN, "Must be 1 to 80 printable ASCII characters."))
        super().__init__(keys=MetadataKey(), values=values, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[tuple[str, str], ...]:
        metadata = super()._deserialize(value, attr, data, **kwargs)
        if len(metadata) > MAX_METADATA:
            raise ValidationError(f"At most {MAX_METADATA} entries.")
        return tuple(sorted(metadata.items()))
