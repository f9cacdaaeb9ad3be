"""The admin API: operators read, add and lift suppression list entries with an admin key (SMSP_ADMIN_API_KEY)."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from typing import Iterator

from flask import Blueprint, Response, request
from marshmallow import Schema, ValidationError, validate

from sendmailproxy.errors import (
    ForbiddenError,
    NotFoundError,
    SuppressionStoreUnavailableError,
    UnauthorizedError,
    ValidationFailedError,
)
from sendmailproxy.events.model import rfc3339
from sendmailproxy.intake import check_json_content_type, check_size, is_one_of, read_json_object
from sendmailproxy.schemafields import MAILBOX_PATTERN, MAX_ADDRESS_CHARS, Text
from sendmailproxy.service import Service, current_service
from sendmailproxy.store import MAX_PAGE, StoreUnavailableError
from sendmailproxy.suppression.changes import add, lift
from sendmailproxy.suppression.store import Entry

log = logging.getLogger(__name__)
blueprint = Blueprint("admin", __name__)

DEFAULT_PAGE = 100
MAX_NOTE_CHARS = 500
MAX_BODY_BYTES = 4096  # a PUT's body is one short note
_MAILBOX = re.compile(MAILBOX_PATTERN)


class ManualSuppressionSchema(Schema):
    """The body of PUT /suppressions/{address}: why the operator lists the address (kept as the entry's note)."""

    reason = Text(required=True, header=True, validate=validate.Length(1, MAX_NOTE_CHARS))


MANUAL = ManualSuppressionSchema()


@blueprint.get("/suppressions", provide_automatic_options=False)
def list_suppressions():
    """A page of entries by address; `next` is the cursor for the page after it (the same one at the end)."""
    service = current_service()
    _authorize(service)
    limit = _page_limit(request.args.get("limit"))
    with _store():
        try:
            entries, cursor = service.suppressions.list(request.args.get("after"), limit)
        except ValueError as error:  # the limit is checked above: the cursor is not one the list gave
            raise _invalid("after", str(error)) from None
    return {"suppressions": [entry.to_json() for entry in entries], "next": cursor}


@blueprint.get("/suppressions/<path:address>", provide_automatic_options=False)
def get_suppression(address: str):
    """The address's entry, or 404."""
    service = current_service()
    _authorize(service)
    address = _address(address)
    with _store():
        entry = service.suppressions.lookup([address]).get(address)
    if entry is None:
        raise NotFoundError(f"{address} is not on the suppression list.")
    return entry.to_json()


@blueprint.put("/suppressions/<path:address>", provide_automatic_options=False)
def put_suppression(address: str):
    """List the address by hand (201); if it is listed already, its entry stays as it is (200)."""
    service = current_service()
    check_size(MAX_BODY_BYTES)
    hint = _authorize(service)
    address = _address(address)
    check_json_content_type()
    try:
        note = MANUAL.load(read_json_object(MAX_BODY_BYTES))["reason"]
    except ValidationError as error:
        raise ValidationFailedError("The body is invalid; see errors.", body={"errors": error.messages}) from None
    entry = Entry(address, "manual", None, rfc3339(time.time()), None, note)
    with _store():
        if add(service.suppressions, entry, admin_key=hint):
            return entry.to_json(), 201, {"Location": f"/suppressions/{address}"}
        # Lifted in between: answered as if the lift came after this PUT.
        kept = service.suppressions.lookup([address]).get(address, entry)
    return kept.to_json()


@blueprint.delete("/suppressions/<path:address>", provide_automatic_options=False)
def delete_suppression(address: str):
    """Lift the address: 204, or 404 if it was not listed."""
    service = current_service()
    hint = _authorize(service)
    address = _address(address)
    with _store():
        lifted = lift(service.suppressions, address, admin_key=hint)
    if not lifted:
        raise NotFoundError(f"{address} is not on the suppression list.")
    return Response(status=204)


def _authorize(service: Service) -> str:
    """The admin key's hint, for the log (never the key): no key 401, a client key 403, an unknown key 401, and
    403 to everyone while no admin key is configured."""
    admin_keys = service.config.admin_api_keys
    if not admin_keys:
        raise ForbiddenError("The admin API is off here: no SMSP_ADMIN_API_KEY is configured.")
    presented = request.headers.get("X-API-KEY")
    if not presented:
        raise UnauthorizedError("Missing admin key: send one of the SMSP_ADMIN_API_KEY keys in X-API-KEY.")
    if is_one_of(presented, admin_keys):
        return key_hint(presented)
    if is_one_of(presented, service.config.api_keys):
        raise ForbiddenError("A client API key cannot use the admin API: send an admin key in X-API-KEY.")
    raise UnauthorizedError("Invalid admin key: send one of the SMSP_ADMIN_API_KEY keys in X-API-KEY.")


def key_hint(key: str) -> str:
    """Which admin key acted, for the log: the first 8 hex digits of its SHA-256 (`sha256sum` shows them)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _address(address: str) -> str:
    """The path's address, lower-cased; 422 unless it is one bare address."""
    if len(address) > MAX_ADDRESS_CHARS or not _MAILBOX.fullmatch(address):
        raise _invalid("address", "Not a valid address: give one bare address, a@example.com.")
    return address.lower()


def _page_limit(text: str | None) -> int:
    """The `limit` query parameter: DEFAULT_PAGE when absent, else an integer from 1 to MAX_PAGE."""
    if text is None:
        return DEFAULT_PAGE
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PAGE):
        raise _invalid("limit", f"Must be an integer from 1 to {MAX_PAGE}.")
    return int(text)


def _invalid(name: str, problem: str) -> ValidationFailedError:
    return ValidationFailedError(f"The {name} is invalid; see errors.", body={"errors": {name: [problem]}})


@contextlib.contextmanager
def _store() -> Iterator[None]:
    """A store that cannot answer: 503 (an operator retries)."""
    try:
        yield
    except StoreUnavailableError as error:
        log.error("suppression list unavailable", extra={"reason": str(error)})
        raise SuppressionStoreUnavailableError("The suppression list cannot be reached now; retry later.") from None
