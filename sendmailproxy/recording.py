"""Recording events: each stored once, and the recipient of every event that suppresses put on the list."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

from sendmailproxy import metrics
from sendmailproxy.events.model import Event
from sendmailproxy.events.store import AddResult, EventStore, NonceReused
from sendmailproxy.store import StoreUnavailableError
from sendmailproxy.suppression.changes import suppress
from sendmailproxy.suppression.store import SuppressionStore

log = logging.getLogger(__name__)


def record(events: EventStore, suppressions: SuppressionStore, received: Sequence[Event],
           nonce: tuple[str, str] | None = None) -> AddResult | NonceReused:
    """Store one webhook's events (each once; `nonce` as EventStore.add takes it), then list the recipient of
    every one that suppresses. Raises StoreUnavailableError; a retry after it does what is left."""
    result = events.add(received, nonce)
    if isinstance(result, NonceReused):
        return result
    for event in result.new:
        metrics.EVENTS.labels(event.provider, event.type).inc()
    # Every suppressing event of the request, not only the new ones: after a crash between the two writes, the
    # provider's retry finds its events stored and must still list their recipients (adding is idempotent).
    suppress(suppressions, received)
    return result


def mock_sink(events: EventStore, suppressions: SuppressionStore) -> Callable[[Sequence[Event]], None]:
    """Where mock providers put the events of their sends: recorded like a webhook's; a store that is down is
    logged, not raised, since the mock send itself succeeded."""

    def sink(received: Sequence[Event]) -> None:
        try:
            record(events, suppressions, received)
        except StoreUnavailableError as error:
            log.warning("mock events not recorded: the store is unavailable", extra={"error": str(error)})

    return sink
