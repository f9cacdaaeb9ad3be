"""The suppression contract on SQLite and Redis: one entry per address, case-insensitive, kept until lifted."""
from __future__ import annotations

import pytest

from sendmailproxy.suppression.store import Entry


def entry(address: str, reason: str = "bounced", **changes) -> Entry:
    fields = {"address": address, "reason": reason, "provider": "sendgrid", "since": "2026-12-03T13:23:06Z",
              "event_id": "ev_" + "1" * 32, "note": None}
    return Entry(**{**fields, **changes})


def test_lookup_answers_the_listed_addresses_only(suppressions):
    assert suppressions.add(entry("bounced@example.com"))
    assert suppressions.add(entry("manual@example.com", "manual", provider=None, event_id=None, note="asked"))
    assert suppressions.lookup(["bounced@example.com", "fine@example.com", "manual@example.com"]) == {
        "bounced@example.com": entry("bounced@example.com"),
        "manual@example.com": entry("manual@example.com", "manual", provider=None, event_id=None, note="asked")}
    assert suppressions.lookup([]) == {}
    assert suppressions.lookup(["fine@example.com"]) == {}


def test_addresses_compare_case_insensitively(suppressions):
    suppressions.add(entry("Mixed.Case@Example.COM"))
    found = suppressions.lookup(["mixed.case@example.com", "MIXED.case@example.com"])
    assert found == {"mixed.case@example.com": entry("mixed.case@example.com")}
    assert not suppressions.add(entry("MIXED.CASE@example.com", "complained"))
    assert suppressions.remove("mixed.CASE@example.com")
    assert suppressions.lookup(["mixed.case@example.com"]) == {}


def test_an_address_keeps_its_first_entry(suppressions):
    assert suppressions.add(entry("a@example.com", "bounced"))
    assert not suppressions.add(entry("a@example.com", "complained", provider="ses"))
    assert not suppressions.add(entry("a@example.com", "bounced"))
    assert suppressions.lookup(["a@example.com"])["a@example.com"] == entry("a@example.com", "bounced")


def test_a_lifted_address_can_be_listed_again(suppressions):
    suppressions.add(entry("a@example.com", "bounced"))
    assert suppressions.remove("a@example.com")
    assert not suppressions.remove("a@example.com")
    assert suppressions.lookup(["a@example.com"]) == {}
    assert suppressions.add(entry("a@example.com", "manual"))
    assert suppressions.lookup(["a@example.com"])["a@example.com"].reason == "manual"


def test_an_unknown_reason_is_a_value_error(suppressions):
    with pytest.raises(ValueError):
        suppressions.add(entry("a@example.com", "deferred"))
    assert suppressions.lookup(["a@example.com"]) == {}


def test_the_list_pages_by_address_and_its_cursor_returns_only_later_ones(suppressions):
    for name in ("c", "a", "e", "b", "d"):
        suppressions.add(entry(f"{name}@example.com"))
    page, cursor = suppressions.list(None, 2)
    assert [e.address for e in page] == ["a@example.com", "b@example.com"]
    page, cursor = suppressions.list(cursor, 2)
    assert [e.address for e in page] == ["c@example.com", "d@example.com"]
    suppressions.remove("e@example.com")
    assert suppressions.list(cursor, 2) == ([], cursor)
    suppressions.add(entry("f@example.com"))
    assert suppressions.list(cursor, 2)[0] == [entry("f@example.com")]


def test_an_empty_list(suppressions):
    page, cursor = suppressions.list(None, 10)
    assert page == []
    suppressions.add(entry("a@example.com"))
    assert suppressions.list(cursor, 10)[0] == [entry("a@example.com")]


@pytest.mark.parametrize("after", ["!!", "a", "_w"])
def test_a_malformed_cursor_is_a_value_error(suppressions, after):
    with pytest.raises(ValueError):
        suppressions.list(after, 10)


@pytest.mark.parametrize("limit", [0, 1001])
def test_a_limit_off_1_to_1000_is_a_value_error(suppressions, limit):
    with pytest.raises(ValueError):
        suppressions.list(None, limit)


def test_reachable(suppressions):
    assert suppressions.reachable()
