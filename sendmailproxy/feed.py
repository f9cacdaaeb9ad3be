"""GET /events: the delivery events received from the providers' webhooks, read in the order received."""
from __future__ import annotations

from flask import Blueprint, request
from werkzeug.datastructures import MultiDict

from sendmailproxy.errors import EventsUnavailableError, ValidationFailedError
from sendmailproxy.intake import check_api_key
from sendmailproxy.service import current_service
from sendmailproxy.store import MAX_PAGE, StoreUnavailableError

blueprint = Blueprint("feed", __name__)

DEFAULT_LIMIT = 100
PARAMETERS = ("after", "limit", "message_id", "recipient")
MAX_LIMIT_DIGITS = len(str(MAX_PAGE))


@blueprint.get("/events", provide_automatic_options=False)
def read_events():
    """Up to `limit` events after the cursor `after`, oldest first, optionally of one message or recipient."""
    service = current_service()
    check_api_key(request.headers.get("X-API-KEY"), service.config.api_keys)
    query = read_query(request.args)
    try:
        events, cursor = service.events.feed(query["after"], query["limit"], query["message_id"],
                                             query["recipient"])
    except ValueError:  # the limit is checked above, so the store could not read the cursor
        raise _invalid({"after": ["Not a cursor this feed gave: pass the `next` of an earlier answer."]}) from None
    except StoreUnavailableError:
        raise EventsUnavailableError("The events store cannot be reached; retry later.") from None
    return {"events": [event.to_json() for event in events], "next": cursor}


def read_query(args: MultiDict) -> dict:
    """The feed's parameters, each given at most once and not empty; any other parameter is refused, so that a
    misspelt filter is an error rather than every event."""
    errors = {name: ["Unknown parameter: the feed takes after, limit, message_id and recipient."]
              for name in args if name not in PARAMETERS}
    for name in PARAMETERS:
        values = args.getlist(name)
        if len(values) > 1:
            errors[name] = ["Give this parameter once."]
        elif values == [""]:
            errors[name] = ["Must not be empty."]
    query = {name: args.get(name) for name in PARAMETERS}
    limit = query["limit"]
    if limit is None:
        query["limit"] = DEFAULT_LIMIT
    elif _is_small_number(limit) and 1 <= int(limit) <= MAX_PAGE:
        query["limit"] = int(limit)
    else:
        errors.setdefault("limit", [f"Must be an integer from 1 to {MAX_PAGE}."])
    if errors:
        raise _invalid(errors)
    return query


def _is_small_number(text: str) -> bool:
    # Plain decimal digits only: int() would also take " 10" and "1_0".
    return text.isascii() and text.isdigit() and len(text) <= MAX_LIMIT_DIGITS


def _invalid(errors: dict) -> ValidationFailedError:
    return ValidationFailedError("The query is invalid; see errors.", body={"errors": errors})
