"""The provider adapters (the only code that talks HTTP to a provider), and the one place they are built."""
from __future__ import annotations

from sendmailproxy.config import Config
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider
from sendmailproxy.providers.mailgun import MailgunProvider
from sendmailproxy.providers.mock import MockProvider
from sendmailproxy.providers.sendgrid import SendGridProvider

__all__ = ["MailgunProvider", "MockProvider", "Outcome", "OutcomeKind", "Provider", "SendGridProvider",
           "build_providers"]

ADAPTERS: dict[str, type[Provider]] = {"mailgun": MailgunProvider, "sendgrid": SendGridProvider}


def build_providers(config: Config) -> list[Provider]:
    """One adapter per name in `config.providers`, in failover order; in-process mocks when `config.mock`."""
    if config.mock:
        return [MockProvider(name, config.provider_timeout) for name in config.providers]
    return [ADAPTERS[name](config) for name in config.providers]
