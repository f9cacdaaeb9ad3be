"""The provider registry: every name SMSP_PROVIDERS accepts, and the adapter class behind it.

A provider is one module here: an adapter class (a `Provider` with a `name` and a `Settings` class that
reads its own `SMSP_*` variables, built as `Adapter(settings, options)`), plus its fake in `fakeproviders/`,
its page in `docs/providers/` and its tests. Registering it is one entry in ADAPTERS;
tests/providers/test_registry.py checks the rest. sendmailproxy/service.py builds the adapters.
"""
from __future__ import annotations

from sendmailproxy.limits import Limits
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider, ProviderOptions
from sendmailproxy.providers.mailgun import MailgunProvider
from sendmailproxy.providers.mock import MockProvider
from sendmailproxy.providers.postmark import PostmarkProvider
from sendmailproxy.providers.sendgrid import SendGridProvider
from sendmailproxy.providers.ses import SesProvider
from sendmailproxy.providers.smtp import SmtpProvider

__all__ = ["ADAPTERS", "MailgunProvider", "MockProvider", "Outcome", "OutcomeKind", "PostmarkProvider", "Provider",
           "ProviderOptions", "SendGridProvider", "SesProvider", "SmtpProvider", "common_limits"]

ADAPTERS: dict[str, type[Provider]] = {adapter.name: adapter for adapter in (
    MailgunProvider, SendGridProvider, SesProvider, PostmarkProvider, SmtpProvider)}


def common_limits(names: tuple[str, ...]) -> Limits:
    """What every named provider takes in one message (mock providers stand in for the same names)."""
    return Limits.common(ADAPTERS[name].limits for name in names)
