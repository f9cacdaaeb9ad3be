"""The Idempotency-Key header, the client's scope a key lives in, and the fingerprint of a message."""
from __future__ import annotations

import dataclasses
import hashlib
import re

from sendmailproxy.message import Message

MAX_KEY_CHARS = 255
_KEY = re.compile(r"[\x20-\x7e]{1,%d}" % MAX_KEY_CHARS)  # printable ASCII
# The draft sends the key as an RFC 8941 sf-string: quoted, with only \" and \\ escaped.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_ESCAPE = re.compile(r'\\(["\\])')


def parse_key(value: str) -> str | None:
    """The key in the header's value, bare (Stripe's form) or an sf-string (the draft's); None if malformed."""
    value = value.strip(" \t")  # surrounding whitespace is not part of an HTTP field value
    if value.startswith('"'):
        quoted = _SF_STRING.fullmatch(value)
        if quoted is None:
            return None
        value = _SF_ESCAPE.sub(r"\1", quoted[1])
    return value if _KEY.fullmatch(value) else None


def record_key(api_key: str, key: str) -> str:
    """Where the key's record lives: scoped to the client's API key, and hashed, so neither is ever stored."""
    scope = hashlib.sha256(api_key.encode()).digest()
    return hashlib.sha256(scope + key.encode()).hexdigest()


def fingerprint(message: Message) -> str:
    """SHA-256 of the validated message in canonical form: the same message however its JSON was spelled."""
    # The Message has already dropped the spelling (null or absent, one address or a list of one, key order,
    # escapes), and its repr, of strings and tuples only, is a canonical text of every field. Custom headers
    # are a JSON object in the request, so their order is spelling too; attachments count by their digest.
    if len(message.headers) > 1 or message.attachments:
        message = dataclasses.replace(
            message, headers=tuple(sorted(message.headers)),
            attachments=tuple(dataclasses.replace(a, content=hashlib.sha256(a.content).digest())
                              for a in message.attachments))
    return hashlib.sha256(repr(message).encode()).hexdigest()
