"""A keyed send happens at most once: reserve the key, send, keep the answer, and replay it to every retry."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sendmailproxy import metrics
from sendmailproxy.dispatch import Delivery, Dispatcher, Stopped
from sendmailproxy.errors import (
    AllCircuitsOpenError,
    AllProvidersFailedError,
    ApiError,
    IdempotencyKeyReusedError,
    IdempotencyStoreUnavailableError,
    OutcomeUnknownError,
    RequestInProgressError,
    SendError,
)
from sendmailproxy.idempotency.keys import fingerprint, record_key
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

# Answers that prove nothing was sent: the key (if reserved) is released so that a retry may send.
NOTHING_SENT = (AllCircuitsOpenError, AllProvidersFailedError)


@dataclass(frozen=True)
class Replay:
    """The answer the key's earlier request got (or the one it stands for now), to be sent again as it is."""

    status: int
    body_json: str


class Idempotency:
    """The Idempotency-Key behaviour of POST /email; `store` None means the feature is off."""

    def __init__(self, store: Store | None, *, lease: float, ttl: float):
        self.store = store
        self.lease = lease  # the worst case of one request: every provider's longest call in turn, plus a margin
        self.ttl = ttl

    @property
    def enabled(self) -> bool:
        """Whether Idempotency-Keys are honoured here (SMSP_IDEMPOTENCY_STORE is not `off`)."""
        return self.store is not None

    def send(self, api_key: str, key: str, message: Message, dispatcher: Dispatcher, *,
             requested: Message | None = None, skipped: tuple[str, ...] = ()) -> Delivery | Replay:
        """Send once under `key`, or answer as the key's earlier request did; an ApiError raised is the answer.

        `requested`: the message as asked for, when `message` leaves out the `skipped` recipients. The key's
        fingerprint is the request's, so a retry after one more recipient was suppressed still gets its answer.
        """
        reservation = _Reservation(self, record_key(api_key, key), fingerprint(requested or message))
        where = reservation.where
        try:
            result = dispatcher.send(message, reservation, skipped)
        except NOTHING_SENT as error:
            if reservation.owner is None:  # every circuit open, so no attempt reserved the key
                return self._answer_unsent(reservation, error)
            # No provider took it: a retry may send.
            if _quietly(self.store.release, where, reservation.owner):
                _count("released", where)
            raise
        except SendError as error:  # rejected (422), or the outcome is unknown (502, 504): kept and replayed
            self._keep(where, reservation.owner, error.status, error.payload())
            raise
        if isinstance(result, Stopped):
            if isinstance(reservation.refusal, IdempotencyStoreUnavailableError):
                raise reservation.refusal
            return self._answer(where, reservation.refusal)
        self._keep(where, reservation.owner, 200, result.payload())
        return result

    def _answer(self, where: str, claim: Claim) -> Replay:
        """The answer for a key an earlier request holds or held."""
        match claim:
            case Finished(status, body):
                _count("replayed", where, level=logging.INFO)
                return Replay(status, body)
            case Abandoned(provider):
                _count("abandoned", where, level=logging.WARNING)
                unknown = OutcomeUnknownError(
                    f"The request with this Idempotency-Key ended before {provider} confirmed the message: it "
                    "may or may not have been sent, so it will not be sent again under this key.",
                    body={"provider": provider})
                return Replay(unknown.status, json.dumps(unknown.payload()))
            case InFlight():
                _count("conflict", where, level=logging.INFO)
                raise RequestInProgressError("A request with this Idempotency-Key is still being sent; retry "
                                             "after Retry-After to get its answer.")
            case Mismatch():
                _count("mismatch", where, level=logging.INFO)
                raise IdempotencyKeyReusedError("This Idempotency-Key was already used for a different message; "
                                                "use a new key for a new message.")

    def refuse(self, api_key: str, key: str, message: Message, refusal: ApiError) -> Replay:
        """A keyed message refused before any send (its recipients suppressed): a key an earlier request used still
        answers as it did, whatever changed since; a new key is kept free, and `refusal` raised."""
        return self._answer_unsent(_Reservation(self, record_key(api_key, key), fingerprint(message)), refusal)

    def _answer_unsent(self, reservation: _Reservation, refusal: ApiError) -> Replay:
        """Nothing will be sent (every circuit open, or refused): a key an earlier request used still answers as
        it did; a new one gets `refusal`."""
        where = reservation.where
        claim = _call(self.store.reserve, where, reservation.digest, "", self.lease, self.ttl)
        if not isinstance(claim, Reserved):
            return self._answer(where, claim)
        _quietly(self.store.release, where, claim.owner)  # a new key stays free for the retry
        raise refusal

    def _keep(self, where: str, owner: str, status: int, payload: dict) -> None:
        # The client gets the true answer even if it cannot be kept: the record then stays in flight and
        # turns into "outcome unknown" when its lease runs out, which never sends twice.
        kept = _quietly(self.store.finish, where, owner, status, json.dumps(payload), self.ttl)
        if kept:
            _count("stored", where)
        elif kept is False:
            _count("lease_lost", where, level=logging.WARNING)


class _Reservation:
    """The dispatcher's gate for one keyed send: it holds the key's record while providers are called."""

    def __init__(self, idempotency: Idempotency, where: str, digest: str):
        self.idempotency = idempotency
        self.where = where
        self.digest = digest
        self.owner: str | None = None  # set once this request holds the record
        self.sending_to: str | None = None
        self.refusal: Claim | IdempotencyStoreUnavailableError | None = None  # why the send was stopped

    def before(self, provider: str) -> bool:
        """Reserve the key before the first call, record each failover before its call; False if we may not."""
        # At the last moment before a provider call: from here on a dead worker's key means "outcome unknown",
        # never a resend.
        idempotency, store = self.idempotency, self.idempotency.store
        try:
            if self.owner is None:
                claim = _call(store.reserve, self.where, self.digest, provider, idempotency.lease, idempotency.ttl)
                if not isinstance(claim, Reserved):
                    self.refusal = claim
                    return False
                self.owner = claim.owner
            elif not _call(store.mark_sending, self.where, self.owner, provider):
                # This request stalled past its lease, and a retry has declared the key's outcome unknown: it
                # must not send now, and answers as the key does.
                _count("lease_lost", self.where, level=logging.WARNING)
                self.refusal = Abandoned(self.sending_to)
                return False
        except IdempotencyStoreUnavailableError as error:
            self.refusal = error
            return False
        self.sending_to = provider
        return True


def _call(operation, *args):
    """A store operation; a store that cannot answer means this keyed message is not sent (503)."""
    try:
        return operation(*args)
    except StoreUnavailableError as error:
        _count("store_error", args[0], level=logging.ERROR, reason=str(error))
        raise IdempotencyStoreUnavailableError("The idempotency store cannot be reached, so this message "
                                               "was not sent; retry later, or send without the key.") from None


def _quietly(operation, *args) -> bool | None:
    """A store write after the send; None if the store failed (logged and counted, not shown to the client)."""
    try:
        return operation(*args)
    except StoreUnavailableError as error:
        _count("store_error", args[0], level=logging.ERROR, reason=str(error))
        return None


def _count(result: str, where: str, level: int = logging.DEBUG, reason: str | None = None) -> None:
    metrics.IDEMPOTENCY.labels(result).inc()
    # The record's hash, never the key: keys may be built from customer data.
    log.log(level, "idempotency", extra={"result": result, "record": where[:16], "reason": reason})
