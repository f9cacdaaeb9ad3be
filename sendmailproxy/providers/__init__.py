"""The provider registry: every name SMSP_PROVIDERS accepts, and the one place adapters are built.

A provider is one module here: an adapter class (a `Provider` with a `name` and a `Settings` class that
reads its own `SMSP_*` variables), plus its fake in `fakeproviders/`, its page in `docs/providers/` and
its tests. Registering it is one line in ADAPTERS; tests/providers/test_registry.py checks the rest.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sendmailproxy.limits import Limits
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider
from sendmailproxy.providers.mailgun import MailgunProvider
from sendmailproxy.providers.mock import MockProvider
from sendmailproxy.providers.postmark import PostmarkProvider
from sendmailproxy.providers.sendgrid import SendGridProvider
from sendmailproxy.providers.ses import SesProvider
from sendmailproxy.providers.smtp import SmtpProvider

if TYPE_CHECKING:
    from sendmailproxy.config import Config

__all__ = ["ADAPTERS", "MailgunProvider", "MockProvider", "Outcome", "OutcomeKind", "PostmarkProvider", "Provider",
           "SendGridProvider", "SesProvider", "SmtpProvider", "build_providers", "common_limits"]

ADAPTERS: dict[str, type[Provider]] = {adapter.name: adapter for adapter in (MailgunProvider, SendGridProvider)}
ADAPTERS.update({adapter.name: adapter for adapter in (SesProvider, PostmarkProvider)})
ADAPTERS.update({adapter.name: adapter for adapter in (SmtpProvider,)})


def build_providers(config: Config) -> list[Provider]:
    """One adapter per name in `config.providers`, in failover order; in-process mocks when `config.mock`."""
    if config.mock:
        return [MockProvider(name, config.provider_timeout) for name in config.providers]
    return [ADAPTERS[name](config) for name in config.providers]


def common_limits(names: tuple[str, ...]) -> Limits:
    """What every named provider takes in one message (mock providers stand in for the same names)."""
    return Limits.common(ADAPTERS[name].limits for name in names)
