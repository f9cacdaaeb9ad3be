"""The Idempotency-Key header's value: bare or an sf-string, printable ASCII (the 400s are in test_idempotency.py)."""
from __future__ import annotations

import pytest

from sendmailproxy.intake import parse_key


@pytest.mark.parametrize("value, key", [("abc", "abc"), ('"abc"', "abc"), ('"a\\"b\\\\c"', 'a"b\\c'),
                                        ("  padded\t", "padded"), ("a b", "a b"), ("k" * 255, "k" * 255)])
def test_keys_bare_or_quoted(value, key):
    assert parse_key(value) == key


@pytest.mark.parametrize("value", ["", '""', "k" * 256, "é", "a\x7fb", '"open', '"a"b"', '"\\n"'])
def test_malformed_keys(value):
    assert parse_key(value) is None
