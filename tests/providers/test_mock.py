"""Mock adapters and build_providers: failover order, names, options, and the subjects that choose the mock's answer."""
import dataclasses
import re
import time

import pytest

from sendmailproxy.config import Config
from sendmailproxy.message import Address, Message
from sendmailproxy.providers import MailgunProvider, MockProvider, OutcomeKind, SendGridProvider
from sendmailproxy.service import build_providers
from tests.providers.conftest import SETTINGS


def message(subject):
    return Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject=subject, text="t")


@pytest.fixture
def config():
    """A worker's config naming two real providers."""
    return Config(api_keys=("client-key",), provider_settings={name: SETTINGS[name] for name in ("mailgun", "sendgrid")},
                  poll_address="probe@example.com", provider_timeout=1.5, threads=4)


def test_build_providers_follows_the_configured_order(config):
    providers = build_providers(dataclasses.replace(config, providers=("sendgrid", "mailgun")))

    assert [type(p) for p in providers] == [SendGridProvider, MailgunProvider]
    assert [p.name for p in providers] == ["sendgrid", "mailgun"]


def test_build_providers_builds_only_the_configured_ones(config):
    assert [p.name for p in build_providers(dataclasses.replace(config, providers=("mailgun",)))] == ["mailgun"]


def test_every_adapter_gets_the_workers_timeout_pool_and_poll_address(config):
    for provider in build_providers(config):
        pool = provider._session.get_adapter(provider._url)
        assert provider._timeout == (1.5, 1.5)
        assert pool._pool_maxsize == 5  # a connection per request thread, and one for the prober
        assert provider._probe_message.sender.email == "probe@example.com"


def test_mock_mode_builds_mocks_named_like_the_real_ones(config):
    providers = build_providers(dataclasses.replace(config, mock=True, providers=("sendgrid", "mailgun")))

    assert all(isinstance(p, MockProvider) for p in providers)
    assert [p.name for p in providers] == ["sendgrid", "mailgun"]


def test_mock_accepts_with_a_generated_id():
    first, second = (MockProvider("mailgun", 0.05).send(message("hello")) for _ in range(2))

    assert first.kind is OutcomeKind.ACCEPTED
    assert re.fullmatch(r"<[0-9a-f-]{36}@mock\.mailgun>", first.message_id)
    assert first.message_id != second.message_id


def test_mock_subject_fail_is_not_accepted():
    outcome = MockProvider("sendgrid", 0.05).send(message("fail"))

    assert (outcome.kind, outcome.reason) == (OutcomeKind.NOT_ACCEPTED, "mock failure")


def test_mock_subject_timeout_waits_out_the_timeout_and_is_ambiguous():
    started = time.monotonic()
    outcome = MockProvider("mailgun", 0.05).send(message("timeout"))

    assert time.monotonic() - started >= 0.05
    assert (outcome.kind, outcome.timed_out) == (OutcomeKind.AMBIGUOUS, True)


def test_mock_probe_is_always_accepted():
    assert MockProvider("mailgun", 0.05).probe().kind is OutcomeKind.ACCEPTED
