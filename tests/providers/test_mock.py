"""Mock adapters and build_providers: failover order, names, and the subjects that choose the mock's answer."""
import dataclasses
import re
import time

from sendmailproxy.message import Address, Message
from sendmailproxy.providers import (MailgunProvider, MockProvider, OutcomeKind, SendGridProvider,
                                     build_providers)


def message(subject):
    return Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject=subject, text="t")


def test_build_providers_follows_the_configured_order(config):
    providers = build_providers(dataclasses.replace(config, providers=("sendgrid", "mailgun")))

    assert [type(p) for p in providers] == [SendGridProvider, MailgunProvider]
    assert [p.name for p in providers] == ["sendgrid", "mailgun"]


def test_build_providers_builds_only_the_configured_ones(config):
    assert [p.name for p in build_providers(dataclasses.replace(config, providers=("mailgun",)))] == ["mailgun"]


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
