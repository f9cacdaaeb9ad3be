"""Schemathesis hooks for test_fuzz.py (via SCHEMATHESIS_HOOKS): the rules swagger.yaml can only state in prose.

swagger.yaml's schemas state every rule JSON Schema can; EmailRequest's description lists the few it cannot (sums
and case-insensitive uniqueness across fields, byte counts, lone surrogates; tests/api/test_validation.py keeps
that list exact). A schema-valid body that breaks one of them is rightly refused with 422, so that one "schema-valid
request rejected" failure is dropped; every other failure stands, including a 422 from a provider, which would mean
our validator let through what a provider refuses. Each case with a well-formed Idempotency-Key gets a key of its
own: the fuzzer repeats short keys and the spec's example, and a key sent again with another message is rightly
refused (state, which no schema states).
"""
from __future__ import annotations

import re
import uuid

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

from sendmailproxy.intake import parse_key

# The validator's words for each prose rule (sendmailproxy/schemas.py and schemafields.py).
PROSE_RULES = tuple(re.compile(rule) for rule in (
    r"At most \d+ addresses in toaddress, ccaddress and bccaddress together\.",
    r"\S+ already appears in toaddress, ccaddress or bccaddress\.",
    r"Header names must be unique, ignoring case\.",
    r"headers, tags and metadata together exceed \d+ bytes\.",
    r"Bodies and decoded attachments together exceed \d+ bytes\.",
    r"Not valid Unicode: contains a lone surrogate\.",
    # GET /events: a cursor is opaque, so the spec cannot say which strings the store gave.
    r"Not a cursor this feed gave: pass the `next` of an earlier answer\.",
))


def _messages(errors: object):
    """The leaf messages of a nested `errors` object."""
    if isinstance(errors, str):
        yield errors
    elif isinstance(errors, dict):
        for value in errors.values():
            yield from _messages(value)
    elif isinstance(errors, list):
        for value in errors:
            yield from _messages(value)


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a 422 whose every reason is one of the prose rules."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    try:
        messages = list(_messages(response.json().get("errors")))
    except (ValueError, AttributeError):
        return True
    return not messages or not all(any(rule.fullmatch(m) for rule in PROSE_RULES) for m in messages)


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    """A fresh Idempotency-Key for a case that carries a well-formed one; a malformed one is fuzzed as it is."""
    if case.headers and parse_key(case.headers.get("Idempotency-Key", "")) is not None:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
