"""The per-worker objects a request needs, built once per process and kept on the app."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from flask import current_app

from sendmailproxy import metrics
from sendmailproxy.circuits import Circuits
from sendmailproxy.config import Config
from sendmailproxy.dispatch import Dispatcher
from sendmailproxy.events import open_events
from sendmailproxy.events.model import Event
from sendmailproxy.events.settings import enabled_webhooks
from sendmailproxy.events.store import EventStore
from sendmailproxy.events.verdict import Webhook
from sendmailproxy.idempotency import Idempotency, build_idempotency
from sendmailproxy.probe import Prober
from sendmailproxy.providers import ADAPTERS, MockProvider, common_limits
from sendmailproxy.providers.base import Provider, ProviderOptions
from sendmailproxy.recording import mock_sink
from sendmailproxy.schemas import EmailSchema
from sendmailproxy.store import open_backend
from sendmailproxy.suppression import open_suppressions
from sendmailproxy.suppression.store import SuppressionStore


@dataclass(frozen=True)
class Service:
    """Config, request schema, circuits, dispatcher, prober, idempotency keys, the events and suppression stores
    and the enabled webhooks' verifiers of this worker process."""

    config: Config
    schema: EmailSchema
    circuits: Circuits
    dispatcher: Dispatcher
    prober: Prober
    idempotency: Idempotency
    events: EventStore
    suppressions: SuppressionStore
    webhooks: Mapping[str, Webhook]  # by provider name: the /webhooks/<name> routes that are on

    @classmethod
    def build(cls, config: Config, providers: Sequence[Provider] | None = None) -> "Service":
        # One backend for everything kept (config.store_url); it connects lazily, per thread, after the fork.
        backend = open_backend(config.store_url)
        if config.idempotency_store == "off":
            keys_backend = None
        elif config.idempotency_store == config.store_url:
            keys_backend = backend
        else:  # SMSP_IDEMPOTENCY_STORE names a store of its own
            keys_backend = open_backend(config.idempotency_store)
        # Push (issue 21): pass push=True when it is configured, so each new event is queued as it is stored.
        events = open_events(backend, ttl=config.events_ttl, max_age=config.webhooks.max_age)
        suppressions = open_suppressions(backend)
        if providers is None:
            providers = build_providers(config, mock_sink(events, suppressions))
        circuits = Circuits([p.name for p in providers], threshold=config.failure_threshold,
                            poll_interval=config.poll_interval, poll_max_interval=config.poll_max_interval,
                            on_change=metrics.circuit_changed)
        prober = Prober(circuits, providers, poll_interval=config.poll_interval)
        schema = EmailSchema(limits=common_limits(config.providers))
        return cls(config, schema, circuits, Dispatcher(providers, circuits), prober,
                   build_idempotency(config, providers, keys_backend), events, suppressions,
                   enabled_webhooks(config.webhooks))


def build_providers(config: Config, mock_events: Callable[[Sequence[Event]], None] | None = None) -> list[Provider]:
    """One adapter per name in `config.providers`, in failover order; in-process mocks when `config.mock`, which
    hand the events of their sends to `mock_events`."""
    options = provider_options(config)
    if config.mock:
        return [MockProvider(name, options.timeout, mock_events) for name in config.providers]
    return [ADAPTERS[name](config.settings_of(name), options) for name in config.providers]


def provider_options(config: Config) -> ProviderOptions:
    """What every adapter of this worker shares."""
    # One pooled connection per request thread, plus one for the prober thread that shares each adapter.
    return ProviderOptions(timeout=config.provider_timeout, pool_size=config.threads + 1,
                           poll_address=config.poll_address)


def current_service() -> Service:
    """The Service of the app handling the current request."""
    return current_app.extensions["sendmailproxy"]
