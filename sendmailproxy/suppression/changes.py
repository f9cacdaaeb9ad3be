"""Every change to the suppression list goes through here, so each one is counted and logged the same way."""
from __future__ import annotations

import logging
from typing import Iterable

from sendmailproxy import metrics
from sendmailproxy.events.model import Event
from sendmailproxy.suppression.store import Entry, SuppressionStore

log = logging.getLogger(__name__)


def add(store: SuppressionStore, entry: Entry, **context) -> bool:
    """List `entry`'s address (counted by reason, logged with `context`); False if it was listed already."""
    added = store.add(entry)
    if added:
        metrics.SUPPRESSIONS_ADDED.labels(entry.reason).inc()
        log.info("suppression added", extra={"address": entry.address.lower(), "reason": entry.reason,
                                             "provider": entry.provider, "event_id": entry.event_id, **context})
    return added


def lift(store: SuppressionStore, address: str, **context) -> bool:
    """Lift `address` (counted, logged with `context`); False if it was not listed."""
    lifted = store.remove(address)
    if lifted:
        metrics.SUPPRESSIONS_LIFTED.inc()
        log.info("suppression lifted", extra={"address": address.lower(), **context})
    return lifted


def suppress(store: SuppressionStore, events: Iterable[Event]) -> int:
    """List the recipient of every event that suppresses (`Event.suppresses`), since the event occurred, with the
    provider's diagnostic as the note; how many were new. Safe to repeat for a provider's retry: an address keeps
    its first entry. StoreUnavailableError passes up (the webhook answers 503, and the provider retries)."""
    return sum(add(store, Entry(event.recipient, event.suppresses, event.provider, event.occurred_at, event.id,
                                event.reason))
               for event in events if event.suppresses)
