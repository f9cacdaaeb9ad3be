"""A keyed send happens at most once: reserve the key, send, keep the answer, and replay it to every retry."""
from __future__ import annotations

import json
import logging
from typing import Callable

from flask import Response

from sendmailproxy import metrics
from sendmailproxy.errors import (
    AllCircuitsOpenError,
    AllProvidersFailedError,
    IdempotencyKeyInvalidError,
    IdempotencyKeyReusedError,
    IdempotencyOffError,
    IdempotencyStoreUnavailableError,
    OutcomeUnknownError,
    RequestInProgressError,
    SendError,
)
from sendmailproxy.idempotency.keys import MAX_KEY_CHARS, fingerprint, parse_key, record_key
from sendmailproxy.idempotency.store import (
    Abandoned,
    Claim,
    Finished,
    InFlight,
    Mismatch,
    Reserved,
    Store,
    StoreUnavailableError,
)
from sendmailproxy.message import Message

log = logging.getLogger(__name__)

REPLAYED = "Idempotent-Replayed"
# Answers that prove nothing was sent: the key (if reserved) is released so that a retry may send.
NOTHING_SENT = (AllCircuitsOpenError, AllProvidersFailedError)
# deliver(before_attempt) sends the message, calling before_attempt(provider) before each provider call; it
# returns the 200 body or raises the SendError the client gets.
Deliver = Callable[[Callable[[str], None]], dict]


class Idempotency:
    """The Idempotency-Key behaviour of POST /email; `store` None means the feature is off."""

    def __init__(self, store: Store | None, *, lease: float, ttl: float):
        self.store = store
        self.lease = lease  # the worst case of one request: every provider's longest call in turn, plus a margin
        self.ttl = ttl

    def key_of(self, header: str | None) -> str | None:
        """The request's key (None without the header); a 400 for a malformed one, or when the feature is off."""
        if header is None:
            return None
        if self.store is None:
            raise IdempotencyOffError("Idempotency is off on this server (SMSP_IDEMPOTENCY_STORE=off), so an "
                                      "Idempotency-Key would not protect this message; send it without one.")
        key = parse_key(header)
        if key is None:
            raise IdempotencyKeyInvalidError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII "
                                             "characters, bare or as a quoted string.")
        return key

    def send(self, api_key: str, key: str, message: Message, deliver: Deliver) -> Response | dict:
        """Send once under `key`, or answer as the key's earlier request did."""
        where = record_key(api_key, key)
        digest = fingerprint(message)
        owner, sending_to = None, None

        def before_attempt(provider: str) -> None:
            # The key is reserved at the last moment before the first provider call, and each failover is
            # recorded before its call: from here on a dead worker's key means "outcome unknown", never a resend.
            nonlocal owner, sending_to
            if owner is None:
                claim = self._call(self.store.reserve, where, digest, provider, self.lease, self.ttl)
                if not isinstance(claim, Reserved):
                    raise _Taken(claim)
                owner = claim.owner
            elif not self._call(self.store.mark_sending, where, owner, provider):
                # This request stalled past its lease, and a retry has declared the key's outcome unknown: it
                # must not send now, and answers as the key does.
                _count("lease_lost", where, level=logging.WARNING)
                raise _Taken(Abandoned(sending_to))
            sending_to = provider

        try:
            body = deliver(before_attempt)
        except _Taken as taken:
            return self._answer(where, taken.claim)
        except NOTHING_SENT as error:
            if owner is None:  # every circuit open, so no attempt reserved the key
                return self._answer_unsent(where, digest, error)
            # No provider took it: a retry may send.
            if self._quietly(self.store.release, where, owner):
                _count("released", where)
            raise
        except SendError as error:  # rejected (422), or the outcome is unknown (502, 504): kept and replayed
            self._keep(where, owner, error.status, error.payload())
            raise
        self._keep(where, owner, 200, body)
        return body

    def _answer(self, where: str, claim: Claim) -> Response:
        """The answer for a key an earlier request holds or held."""
        match claim:
            case Finished(status, body):
                _count("replayed", where, level=logging.INFO)
                return _replay(status, body)
            case Abandoned(provider):
                _count("abandoned", where, level=logging.WARNING)
                unknown = OutcomeUnknownError(
                    f"The request with this Idempotency-Key ended before {provider} confirmed the message: it "
                    "may or may not have been sent, so it will not be sent again under this key.",
                    body={"provider": provider})
                return _replay(unknown.status, json.dumps(unknown.payload()))
            case InFlight():
                _count("conflict", where, level=logging.INFO)
                raise RequestInProgressError("A request with this Idempotency-Key is still being sent; retry "
                                             "after Retry-After to get its answer.")
            case Mismatch():
                _count("mismatch", where, level=logging.INFO)
                raise IdempotencyKeyReusedError("This Idempotency-Key was already used for a different message; "
                                                "use a new key for a new message.")

    def _answer_unsent(self, where: str, digest: str, all_open: SendError) -> Response:
        """Every circuit is open: a key an earlier request used still answers as it did; a new one gets the 503."""
        claim = self._call(self.store.reserve, where, digest, "", self.lease, self.ttl)
        if not isinstance(claim, Reserved):
            return self._answer(where, claim)
        self._quietly(self.store.release, where, claim.owner)  # a new key stays free for the retry
        raise all_open

    def _keep(self, where: str, owner: str, status: int, payload: dict) -> None:
        # The client gets the true answer even if it cannot be kept: the record then stays in flight and
        # turns into "outcome unknown" when its lease runs out, which never sends twice.
        kept = self._quietly(self.store.finish, where, owner, status, json.dumps(payload), self.ttl)
        if kept:
            _count("stored", where)
        elif kept is False:
            _count("lease_lost", where, level=logging.WARNING)

    @staticmethod
    def _call(operation, *args):
        """A store operation; a store that cannot answer means this keyed message is not sent (503)."""
        try:
            return operation(*args)
        except StoreUnavailableError as error:
            _count("store_error", args[0], level=logging.ERROR, reason=str(error))
            raise IdempotencyStoreUnavailableError("The idempotency store cannot be reached, so this message "
                                                   "was not sent; retry later, or send without the key.") from None

    @staticmethod
    def _quietly(operation, *args) -> bool | None:
        """A store write after the send; None if the store failed (logged and counted, not shown to the client)."""
        try:
            return operation(*args)
        except StoreUnavailableError as error:
            _count("store_error", args[0], level=logging.ERROR, reason=str(error))
            return None


class _Taken(Exception):
    """Raised by before_attempt to stop the send: another request holds the key, or has given it up."""

    def __init__(self, claim: Claim):
        super().__init__(type(claim).__name__)
        self.claim = claim


def _replay(status: int, body: str) -> Response:
    return Response(body, status, {REPLAYED: "true"}, mimetype="application/json")


def _count(result: str, where: str, level: int = logging.DEBUG, reason: str | None = None) -> None:
    metrics.IDEMPOTENCY.labels(result).inc()
    # The record's hash, never the key: keys may be built from customer data.
    log.log(level, "idempotency", extra={"result": result, "record": where[:16], "reason": reason})
