"""The failover table: which provider gets the message, and what the client is told, for every outcome."""
from __future__ import annotations

import logging

import pytest

from sendmailproxy.dispatch import Delivery
from sendmailproxy.errors import (
    AllCircuitsOpenError,
    AllProvidersFailedError,
    OutcomeUnknownError,
    ProviderTimeoutError,
    RejectedByProviderError,
    SendError,
)
from sendmailproxy.providers.base import Outcome, OutcomeKind

# One cell per provider, in failover order: an outcome the provider returns, "open" (its circuit is open,
# so it must not be called) or "-" (must not be reached).
# The result: a provider name for a Delivery through it, or the error class.
FAILOVER_TABLE = [
    # single provider
    (["accepted"], "p1"),
    (["rejected"], RejectedByProviderError),
    (["not_accepted"], AllProvidersFailedError),
    (["ambiguous"], OutcomeUnknownError),
    (["timeout"], ProviderTimeoutError),
    (["open"], AllCircuitsOpenError),
    # two providers
    (["accepted", "-"], "p1"),
    (["rejected", "-"], RejectedByProviderError),
    (["ambiguous", "-"], OutcomeUnknownError),
    (["timeout", "-"], ProviderTimeoutError),
    (["not_accepted", "accepted"], "p2"),
    (["not_accepted", "rejected"], RejectedByProviderError),
    (["not_accepted", "ambiguous"], OutcomeUnknownError),
    (["not_accepted", "timeout"], ProviderTimeoutError),
    (["not_accepted", "not_accepted"], AllProvidersFailedError),
    (["not_accepted", "open"], AllProvidersFailedError),
    (["open", "accepted"], "p2"),
    (["open", "rejected"], RejectedByProviderError),
    (["open", "not_accepted"], AllProvidersFailedError),
    (["open", "timeout"], ProviderTimeoutError),
    (["open", "open"], AllCircuitsOpenError),
    # three providers
    (["not_accepted", "not_accepted", "accepted"], "p3"),
    (["open", "not_accepted", "accepted"], "p3"),
    (["not_accepted", "open", "accepted"], "p3"),
    (["open", "open", "accepted"], "p3"),
    (["not_accepted", "ambiguous", "-"], OutcomeUnknownError),
    (["not_accepted", "rejected", "-"], RejectedByProviderError),
    (["open", "not_accepted", "timeout"], ProviderTimeoutError),
    (["not_accepted", "not_accepted", "not_accepted"], AllProvidersFailedError),
    (["open", "open", "open"], AllCircuitsOpenError),
]
STATUS = {RejectedByProviderError: 422, OutcomeUnknownError: 502, ProviderTimeoutError: 504,
          AllProvidersFailedError: 502, AllCircuitsOpenError: 503}
FAILED = {"not_accepted", "ambiguous", "timeout"}
KINDS = {"timeout": "ambiguous"}  # a table cell that is not an OutcomeKind value


def table_id(row) -> str:
    cells, result = row
    return "+".join(cells) + "->" + (result if isinstance(result, str) else result.__name__)


@pytest.fixture(params=FAILOVER_TABLE, ids=[table_id(row) for row in FAILOVER_TABLE])
def scenario(request, world_factory, make_outcome):
    """A world scripted from one table row, with the row's open circuits opened."""
    cells, expected = request.param
    names = [f"p{i}" for i in range(1, len(cells) + 1)]
    world = world_factory(*names)
    for name, cell in zip(names, cells):
        if cell == "open":
            world.open(name)
        elif cell != "-":
            outcome = make_outcome(cell, f"{name} said {cell}", message_id=f"{name}-id")
            world.providers[name].will_send(outcome)
    world.changes.clear()
    return world, dict(zip(names, cells)), expected


def test_failover_table(scenario, make_message):
    world, cells, expected = scenario
    message = make_message()
    called = [name for name, cell in cells.items() if cell not in ("open", "-")]
    open_before = world.open_names()

    if isinstance(expected, str):
        delivery = world.dispatcher.send(message)
        assert isinstance(delivery, Delivery)
        assert (delivery.provider, delivery.message_id) == (expected, f"{expected}-id")
        attempts = delivery.attempts
    else:
        with pytest.raises(expected) as raised:
            world.dispatcher.send(message)
        error = raised.value
        assert type(error) is expected
        assert error.status == STATUS[expected]
        attempts = error.attempts

    assert [(a.provider, a.outcome.kind.value) for a in attempts] == [
        (name, KINDS.get(cells[name], cells[name])) for name in called]
    for name, provider in world.providers.items():
        # never along an open circuit, never past an accepted, rejected or ambiguous outcome, never twice
        assert [id(m) for m in provider.sent] == ([id(message)] if name in called else [])
    # only provider failures open circuits (threshold 1); nothing here closes one
    assert world.open_names() == open_before | {name for name in called if cells[name] in FAILED}


def test_rejected_names_provider_and_reason(world, make_outcome, make_message):
    world.providers["p1"].will_send(make_outcome("rejected", "'to' parameter is not a valid address"))

    with pytest.raises(RejectedByProviderError) as raised:
        world.dispatcher.send(make_message())

    assert raised.value.body == {"provider": "p1"}
    assert "p1" in raised.value.message
    assert "'to' parameter is not a valid address" in raised.value.message
    assert world.circuits["p1"].closed


@pytest.mark.parametrize("kind, error_class", [("ambiguous", OutcomeUnknownError),
                                               ("timeout", ProviderTimeoutError)])
def test_ambiguous_names_provider_and_says_outcome_unknown(world_factory, make_outcome, make_message,
                                                           kind, error_class):
    world = world_factory("p1", "p2")
    world.providers["p1"].will_send(make_outcome("not_accepted"))
    world.providers["p2"].will_send(make_outcome(kind, "connection reset after send"))

    with pytest.raises(error_class) as raised:
        world.dispatcher.send(make_message())

    error = raised.value
    assert error.body == {"provider": "p2"}
    assert "p2" in error.message and "connection reset after send" in error.message
    assert "may or may not have been sent" in error.message
    assert "not sent again" in error.message


def test_all_failed_lists_every_provider_reason(world_factory, make_outcome, make_message):
    world = world_factory("p1", "p2", "p3")
    world.open("p2")
    world.providers["p1"].will_send(make_outcome("not_accepted", "401 forbidden"))
    world.providers["p3"].will_send(make_outcome("not_accepted", "DNS failure"))

    with pytest.raises(AllProvidersFailedError) as raised:
        world.dispatcher.send(make_message())

    assert "p1: 401 forbidden" in raised.value.message
    assert "p3: DNS failure" in raised.value.message
    assert [a.provider for a in raised.value.attempts] == ["p1", "p3"]


@pytest.mark.parametrize("elapsed, retry_after", [
    (0.0, "10"),
    (2.5, "8"),  # 7.5 s until the probe: rounded up
    (9.99, "1"),
    (10.0, "1"),  # the probe is due now: never 0
    (50.0, "1"),  # overdue
])
def test_all_open_gives_503_with_retry_after_until_next_probe(world, make_message, elapsed, retry_after):
    world.open("p1")
    world.open("p2")
    world.clock.advance(elapsed)

    with pytest.raises(AllCircuitsOpenError) as raised:
        world.dispatcher.send(make_message())

    error = raised.value
    assert error.headers == {"Retry-After": retry_after}
    assert error.body == {"retry_after": int(retry_after)}
    assert error.attempts == ()


def test_retry_after_follows_the_soonest_probe(world, make_outcome, make_message):
    world.open("p1", make_outcome("not_accepted", "429", retry_after=300.0))
    world.clock.advance(1.0)
    world.open("p2")

    with pytest.raises(AllCircuitsOpenError) as raised:
        world.dispatcher.send(make_message())

    assert raised.value.headers["Retry-After"] == "10"


def test_traffic_returns_to_primary_once_it_recovers(world, make_outcome, make_message):
    world.providers["p1"].will_send(make_outcome("not_accepted"))
    world.providers["p2"].outcome = make_outcome("accepted", message_id="p2-id")
    assert world.dispatcher.send(make_message(1)).provider == "p2"
    assert world.dispatcher.send(make_message(2)).provider == "p2"

    world.providers["p1"].will_probe(make_outcome("accepted"))
    world.clock.advance(world.poll_interval)
    world.prober.probe_due()
    world.providers["p1"].will_send(make_outcome("accepted", message_id="p1-id"))

    assert world.dispatcher.send(make_message(3)).provider == "p1"
    assert [m.subject for m in world.providers["p1"].sent] == ["message 1", "message 3"]


def test_below_threshold_failure_still_fails_over_and_keeps_circuit_closed(world_factory, make_outcome,
                                                                           make_message):
    world = world_factory("p1", "p2", threshold=2)
    world.providers["p1"].will_send(make_outcome("not_accepted"),
                                    make_outcome("accepted", message_id="p1-id"))
    world.providers["p2"].will_send(make_outcome("accepted", message_id="p2-id"))

    assert world.dispatcher.send(make_message(1)).provider == "p2"
    assert world.circuits["p1"].closed
    assert world.dispatcher.send(make_message(2)).provider == "p1"
    assert world.circuits["p1"].failures == 0


def test_attempts_record_each_call(world_factory, make_outcome, make_message):
    world = world_factory("p1", "p2", "p3")
    world.providers["p1"].will_send(make_outcome("not_accepted", "connect timeout"))
    world.providers["p2"].will_send(make_outcome("not_accepted", "403"))
    world.providers["p3"].will_send(make_outcome("accepted", message_id="<abc@p3>"))

    delivery = world.dispatcher.send(make_message())

    assert (delivery.provider, delivery.message_id) == ("p3", "<abc@p3>")
    assert [(a.provider, a.outcome.kind.value, a.outcome.reason) for a in delivery.attempts] == [
        ("p1", "not_accepted", "connect timeout"), ("p2", "not_accepted", "403"), ("p3", "accepted", "")]
    assert all(a.seconds >= 0 for a in delivery.attempts)


def test_an_adapter_that_raises_is_an_unknown_outcome_not_a_500(world_factory, make_message):
    world = world_factory("p1", "p2")

    def explode(message):
        raise RuntimeError("adapter bug")

    world.providers["p1"].send = explode
    with pytest.raises(OutcomeUnknownError) as raised:
        world.dispatcher.send(make_message())
    assert "p1" in raised.value.message
    assert not world.circuits["p1"].closed
    assert world.providers["p2"].sent == []  # an unknown outcome is never re-sent


@pytest.mark.parametrize("kind, status, level", [
    (OutcomeKind.NOT_ACCEPTED, 401, logging.ERROR),  # a key to rotate: what an operator alerts on
    (OutcomeKind.NOT_ACCEPTED, 403, logging.ERROR),
    (OutcomeKind.NOT_ACCEPTED, 429, logging.WARNING),
    (OutcomeKind.NOT_ACCEPTED, None, logging.WARNING),  # connection refused
    (OutcomeKind.AMBIGUOUS, 503, logging.WARNING),
], ids=["401", "403", "429", "refused", "503"])
def test_a_failed_attempt_is_logged_at_error_only_when_it_needs_an_operator(world_factory, make_message,
                                                                           log_records, kind, status, level):
    world = world_factory("p1")
    world.providers["p1"].will_send(Outcome(kind, f"HTTP {status}", status=status))

    with pytest.raises(SendError):
        world.dispatcher.send(make_message())

    [record] = log_records("dispatch")
    assert (record.levelno, record.provider, record.provider_status) == (level, "p1", status)
