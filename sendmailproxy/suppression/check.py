"""The send path's check: every recipient looked up in one round trip, the listed ones refused or skipped."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from sendmailproxy import metrics
from sendmailproxy.errors import RecipientsSuppressedError, SuppressionStoreUnavailableError
from sendmailproxy.message import Address, Message
from sendmailproxy.store import StoreUnavailableError
from sendmailproxy.suppression.store import Entry, SuppressionStore

log = logging.getLogger(__name__)

REFUSE, SKIP = "refuse", "skip"  # the request's `suppressed`: what to do with listed recipients
# Bound once: every send counts one of them, and labels() looks its child up each time.
CHECKS = {result: metrics.SUPPRESSION_CHECKS.labels(result) for result in ("clear", "refused", "skipped", "store_error")}


@dataclass(frozen=True)
class Screened:
    """What may be sent: the message without the skipped recipients, and their addresses as requested."""

    message: Message
    skipped: tuple[str, ...] = ()


def screen(store: SuppressionStore, message: Message, *, skip: bool, fail_open: bool) -> Screened:
    """The message as it is when no recipient is listed. Listed ones are refused (RecipientsSuppressedError),
    or with `skip` left out, unless no `to` is left. A store that cannot answer lets the message through when
    `fail_open`, else SuppressionStoreUnavailableError."""
    recipients = message.to + message.cc + message.bcc
    try:
        listed = store.lookup(address.email for address in recipients)
    except StoreUnavailableError as error:
        CHECKS["store_error"].inc()
        # The relay exists to keep mail flowing: by default a store outage must not stop it, but it must be seen.
        log.error("suppression list unavailable", extra={"reason": str(error), "sent_unchecked": fail_open})
        if fail_open:
            return Screened(message)
        raise SuppressionStoreUnavailableError(
            "The suppression list cannot be read, so this message was not sent; retry later.") from None
    if not listed:
        CHECKS["clear"].inc()
        return Screened(message)
    entries = [(address.email, listed[address.email.lower()]) for address in recipients
               if address.email.lower() in listed]
    to = _unlisted(message.to, listed)
    if not (skip and to):
        CHECKS["refused"].inc()
        raise RecipientsSuppressedError(
            "Recipients on the suppression list (they bounced, complained or unsubscribed): nothing was sent. "
            + ('No toaddress is left once they are skipped.' if skip else
               'Leave them out, or send with "suppressed": "skip".'), entries)
    CHECKS["skipped"].inc()
    kept = dataclasses.replace(message, to=to, cc=_unlisted(message.cc, listed), bcc=_unlisted(message.bcc, listed))
    return Screened(kept, tuple(address for address, _ in entries))


def _unlisted(addresses: tuple[Address, ...], listed: dict[str, Entry]) -> tuple[Address, ...]:
    return tuple(address for address in addresses if address.email.lower() not in listed)
