"""The per-worker objects a request needs, built once per process and kept on the app."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from flask import current_app

from sendmailproxy import metrics
from sendmailproxy.circuits import Circuits
from sendmailproxy.config import DEFAULT_IDEMPOTENCY_STORE, Config  # wiring: engineer A
from sendmailproxy.dispatch import Dispatcher
from sendmailproxy.idempotency import Idempotency, build_idempotency
from sendmailproxy.probe import Prober
from sendmailproxy.providers import ADAPTERS, MockProvider, common_limits
from sendmailproxy.providers.base import Provider, ProviderOptions
from sendmailproxy.schemas import EmailSchema
from sendmailproxy.store import open_backend  # wiring: engineer A
from sendmailproxy.suppression import SuppressionStore, open_suppressions  # wiring: engineer A


@dataclass(frozen=True)
class Service:
    """Config, request schema, circuits, dispatcher, prober and idempotency keys of this worker process."""

    config: Config
    schema: EmailSchema
    circuits: Circuits
    dispatcher: Dispatcher
    prober: Prober
    idempotency: Idempotency
    suppressions: SuppressionStore  # wiring: engineer A

    @classmethod
    def build(cls, config: Config, providers: Sequence[Provider] | None = None) -> "Service":
        if providers is None:
            providers = build_providers(config)
        circuits = Circuits([p.name for p in providers], threshold=config.failure_threshold,
                            poll_interval=config.poll_interval, poll_max_interval=config.poll_max_interval,
                            on_change=metrics.circuit_changed)
        prober = Prober(circuits, providers, poll_interval=config.poll_interval)
        schema = EmailSchema(limits=common_limits(config.providers))
        # wiring: engineer A (temporary: the suppression list on the idempotency store's URL)
        store_url = config.idempotency_store if config.idempotency_store != "off" else DEFAULT_IDEMPOTENCY_STORE
        return cls(config, schema, circuits, Dispatcher(providers, circuits), prober,
                   build_idempotency(config, providers), open_suppressions(open_backend(store_url)))


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
