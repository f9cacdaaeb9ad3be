"""The per-worker objects a request needs, built once per process and kept on the app."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from flask import current_app

from sendmailproxy import metrics
from sendmailproxy.circuits import Circuits
from sendmailproxy.config import DEFAULT_IDEMPOTENCY_STORE, Config  # wiring: engineer A
from sendmailproxy.dispatch import Dispatcher
from sendmailproxy.events import open_events  # wiring: engineer A
from sendmailproxy.events.store import EventStore
from sendmailproxy.idempotency import Idempotency, build_idempotency
from sendmailproxy.probe import Prober
from sendmailproxy.providers import ADAPTERS, MockProvider, common_limits
from sendmailproxy.providers.base import Provider, ProviderOptions
from sendmailproxy.push.sender import Sender
from sendmailproxy.schemas import EmailSchema
from sendmailproxy.store import open_backend  # wiring: engineer A


@dataclass(frozen=True)
class Service:
    """Config, request schema, circuits, dispatcher, prober and idempotency keys of this worker process."""

    config: Config
    schema: EmailSchema
    circuits: Circuits
    dispatcher: Dispatcher
    prober: Prober
    idempotency: Idempotency
    events: EventStore | None = None  # wiring: engineer A (opened with push=config.push is not None)
    sender: Sender | None = None  # pushes events to the application while config.push is set

    @classmethod
    def build(cls, config: Config, providers: Sequence[Provider] | None = None) -> "Service":
        if providers is None:
            providers = build_providers(config)
        circuits = Circuits([p.name for p in providers], threshold=config.failure_threshold,
                            poll_interval=config.poll_interval, poll_max_interval=config.poll_max_interval,
                            on_change=metrics.circuit_changed)
        prober = Prober(circuits, providers, poll_interval=config.poll_interval)
        schema = EmailSchema(limits=common_limits(config.providers))
        # wiring: engineer A: the events store on the service's one backend, with the push queue when push is on.
        events = None if config.push is None else open_events(open_backend(
            config.idempotency_store if config.idempotency_store != "off" else DEFAULT_IDEMPOTENCY_STORE), push=True)
        sender = None if config.push is None else Sender.build(config.push, events)
        return cls(config, schema, circuits, Dispatcher(providers, circuits), prober,
                   build_idempotency(config, providers), events, sender)


def build_providers(config: Config) -> list[Provider]:
    """One adapter per name in `config.providers`, in failover order; in-process mocks when `config.mock`."""
    options = provider_options(config)
    if config.mock:
        return [MockProvider(name, options.timeout) for name in config.providers]
    return [ADAPTERS[name](config.settings_of(name), options) for name in config.providers]


def provider_options(config: Config) -> ProviderOptions:
    """What every adapter of this worker shares."""
    # One pooled connection per request thread, plus one for the prober thread that shares each adapter.
    return ProviderOptions(timeout=config.provider_timeout, pool_size=config.threads + 1,
                           poll_address=config.poll_address)


def current_service() -> Service:
    """The Service of the app handling the current request."""
    return current_app.extensions["sendmailproxy"]
