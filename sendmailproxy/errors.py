"""The exception hierarchy the API answers with: each error knows its status, JSON body and headers."""
from __future__ import annotations

import math


class ApiError(Exception):
    """An error with its HTTP status; `body` extends the JSON `{"message": ...}` answer."""

    status = 500
    code: str | None = None  # a machine-readable reason, where clients must tell errors of one status apart

    def __init__(self, message: str, *, body: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.body = body or {}
        self.headers = headers or {}

    def payload(self) -> dict:
        """The JSON answer: the message, the code if there is one, and any detail."""
        return {"message": self.message, **({"code": self.code} if self.code else {}), **self.body}


class ValidationFailedError(ApiError):
    """The request's fields are invalid; `body["errors"]` says which and why."""

    status = 422


class MalformedRequestError(ApiError):
    """The body is not a JSON object."""

    status = 400


class UnauthorizedError(ApiError):
    """The API key is missing or not one of the configured keys."""

    status = 401


class PayloadTooLargeError(ApiError):
    """The body is over the configured limit."""

    status = 413

    def __init__(self, message: str):
        # Closing stops a server that honours it from reading (draining) the rest of a huge body.
        super().__init__(message, headers={"Connection": "close"})


class UnsupportedMediaTypeError(ApiError):
    """The body is not declared as JSON."""

    status = 415


class IdempotencyKeyInvalidError(MalformedRequestError):
    """The Idempotency-Key header is not 1 to 255 printable ASCII characters."""

    code = "idempotency_key_invalid"


class IdempotencyOffError(MalformedRequestError):
    """An Idempotency-Key was sent to a server that cannot honour it (SMSP_IDEMPOTENCY_STORE=off)."""

    code = "idempotency_off"


class RequestInProgressError(ApiError):
    """An earlier request with this Idempotency-Key is still being sent; its answer will be replayed."""

    status = 409
    code = "idempotency_request_in_progress"

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": "1"})  # most sends end well within a second


class IdempotencyKeyReusedError(ApiError):
    """This Idempotency-Key was used for a different message."""

    status = 422
    code = "idempotency_key_reused"


class StoreUnavailableApiError(ApiError):
    """A store this request needs cannot be reached: nothing was done; retry in a second. `code` says which."""

    status = 503

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": "1"}, body={"retry_after": 1})


class IdempotencyStoreUnavailableError(StoreUnavailableApiError):
    """The idempotency store cannot be reached, so a keyed message is not sent (fail closed)."""

    code = "idempotency_store_unavailable"


class SendError(ApiError):
    """The message could not be handed to a provider; carries the attempts made, for the request log."""

    def __init__(self, message: str, *, attempts: tuple = (), **kwargs):
        super().__init__(message, **kwargs)
        self.attempts = attempts


class RejectedByProviderError(SendError):
    """A healthy provider refused the caller's message."""

    status = 422


class OutcomeUnknownError(SendError):
    """The provider may or may not have taken the message; re-sending could deliver it twice."""

    status = 502


class ProviderTimeoutError(OutcomeUnknownError):
    """The provider did not answer in time after the message was sent."""

    status = 504


class AllProvidersFailedError(SendError):
    """Every provider with a closed circuit failed, and provably took nothing."""

    status = 502


class AllCircuitsOpenError(SendError):
    """Every circuit is open: nothing was attempted."""

    status = 503

    def __init__(self, message: str, *, retry_after: float, **kwargs):
        seconds = max(1, math.ceil(retry_after))
        super().__init__(message, headers={"Retry-After": str(seconds)}, body={"retry_after": seconds}, **kwargs)


class EventsUnavailableError(StoreUnavailableApiError):
    """The events store cannot be reached, so the feed cannot be read now."""

    code = "events_store_unavailable"


# The suppression list (issue 20).
class RecipientsSuppressedError(ApiError):
    """Recipients are on the suppression list: nothing was sent. `entries` are (address as requested, Entry)."""

    status = 422
    code = "recipients_suppressed"

    def __init__(self, message: str, entries: list):
        super().__init__(message, body={"suppressed": [
            {"address": address, "reason": entry.reason, "provider": entry.provider, "since": entry.since}
            for address, entry in entries]})


class SuppressionStoreUnavailableError(StoreUnavailableApiError):
    """The suppression list cannot be read or changed now (a send with SMSP_SUPPRESSION_ON_STORE_ERROR=refuse,
    or the admin API)."""

    code = "suppression_store_unavailable"


class ForbiddenError(ApiError):
    """The key is valid but not for this route (a client key on the admin API), or the route is switched off."""

    status = 403


class NotFoundError(ApiError):
    """The resource named in the path does not exist."""

    status = 404
