"""Where a key's record lives (the client's scope, hashed), and the fingerprint of a message."""
from __future__ import annotations

import dataclasses
import hashlib

from sendmailproxy.message import Message

# Fields added to Message after keys were first kept, each with an empty default. Left out of the canonical text
# while empty, so a message that does not use one keeps the fingerprint it had before the field existed: a client
# retrying across the deploy that added it still gets its answer, not 422 idempotency_key_reused.
ADDED_LATER = frozenset({"metadata"})


def record_key(api_key: str, key: str) -> str:
    """Where the key's record lives: scoped to the client's API key, and hashed, so neither is ever stored."""
    scope = hashlib.sha256(api_key.encode()).digest()
    return hashlib.sha256(scope + key.encode()).hexdigest()


def fingerprint(message: Message) -> str:
    """SHA-256 of the validated message in canonical form: the same message however its JSON was spelled."""
    # The Message has already dropped the spelling (null or absent, one address or a list of one, key order,
    # escapes), and its repr, of strings and tuples only, is a canonical text of every field (canonical_text).
    # Custom headers are a JSON object in the request, so their order is spelling too; attachments count by
    # their digest.
    if len(message.headers) > 1 or message.attachments:
        message = dataclasses.replace(
            message, headers=tuple(sorted(message.headers)),
            attachments=tuple(dataclasses.replace(a, content=hashlib.sha256(a.content).digest())
                              for a in message.attachments))
    return hashlib.sha256(canonical_text(message).encode()).hexdigest()


def canonical_text(message: Message) -> str:
    """The message's repr, without the fields in ADDED_LATER while they are empty."""
    fields = (f.name for f in dataclasses.fields(message))
    shown = (f"{name}={getattr(message, name)!r}" for name in fields
             if name not in ADDED_LATER or getattr(message, name))
    return f"{type(message).__name__}({', '.join(shown)})"
