"""The checks a request passes before its fields are validated: size, API key, Idempotency-Key, media type, JSON."""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from typing import NoReturn

from flask import request

from sendmailproxy.errors import (
    IdempotencyKeyInvalidError,
    IdempotencyOffError,
    MalformedRequestError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)


def check_size(limit: int) -> None:
    """Refuse a body over the limit from its Content-Length, before reading a byte of it."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"The body is over the {limit}-byte limit.")


@functools.lru_cache(maxsize=8)
def _digests(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hashlib.sha256(key.encode()).digest() for key in keys)


def is_one_of(presented: str | None, keys: tuple[str, ...]) -> bool:
    """Whether `presented` is one of `keys`, in constant time; never echo or log what was presented."""
    # Fixed-length digests hide the keys' lengths; comparing against every key, without stopping at a
    # match, hides which one matched.
    given = hashlib.sha256((presented or "").encode()).digest()
    matched = False
    for digest in _digests(keys):
        matched |= hmac.compare_digest(given, digest)
    return bool(presented) and matched


def check_api_key(presented: str | None, keys: tuple[str, ...]) -> None:
    """Accept any configured key (several during a rotation)."""
    if not is_one_of(presented, keys):
        raise UnauthorizedError("Missing or invalid API key: send one of the configured keys in X-API-KEY.")


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


def idempotency_key(enabled: bool) -> str | None:
    """The request's Idempotency-Key (None without one); a 400 for a malformed one, or when the feature is off."""
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return None
    if not enabled:
        raise IdempotencyOffError("Idempotency is off on this server (SMSP_IDEMPOTENCY_STORE=off), so an "
                                  "Idempotency-Key would not protect this message; send it without one.")
    key = parse_key(header)
    if key is None:
        raise IdempotencyKeyInvalidError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII "
                                         "characters, bare or as a quoted string.")
    return key


def check_json_content_type() -> None:
    """Accept application/json and application/*+json, in UTF-8 (JSON's only wire encoding)."""
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if not request.is_json or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError("Content-Type must be application/json (UTF-8).")


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    # json.loads would keep the last of two "bccaddress" keys and silently drop the first.
    obj = dict(pairs)
    if len(obj) < len(pairs):
        raise ValueError("Duplicate key in a JSON object")
    return obj


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def read_body(limit: int) -> bytes:
    """The raw body; a 413 for a chunked body over the limit (check_size has refused a declared one)."""
    # A streamed (chunked) body has no Content-Length to check up front, and werkzeug quietly stops
    # reading at its limit: allowing one byte more shows whether there was more.
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise PayloadTooLargeError(f"The body is over the {limit}-byte limit.")
    return body


def read_json_object(limit: int) -> dict:
    """The body parsed as one JSON object; anything else is a 400 (or a 413 for an oversized chunked body)."""
    body = read_body(limit)
    try:
        payload = json.loads(body.decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys,
                             parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise MalformedRequestError("The body is not valid UTF-8.") from None
    except RecursionError:
        raise MalformedRequestError("The body is not valid JSON: nested too deeply.") from None
    except ValueError as error:
        raise MalformedRequestError(f"The body is not valid JSON: {error}.") from None
    if not isinstance(payload, dict):
        raise MalformedRequestError("The body must be a JSON object.")
    return payload
