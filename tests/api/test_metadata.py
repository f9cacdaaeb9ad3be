"""POST /email with `metadata`: what reaches the provider, and what the Idempotency-Key counts as the message."""
from __future__ import annotations

import dataclasses

from tests.api.spec_check import assert_request_matches_spec
from tests.api.support import MINIMAL, MINIMAL_MESSAGE

METADATA = {"order": "1234", "customer": "c-77", "note": 'Any printable ASCII: "100%" _ok_ \\ /'}


def test_metadata_reaches_the_provider_sorted_by_key(post_email, providers):
    body = {**MINIMAL, "metadata": METADATA}
    assert post_email(body).status_code == 200
    assert providers[0].sent == [dataclasses.replace(MINIMAL_MESSAGE, metadata=tuple(sorted(METADATA.items())))]
    assert_request_matches_spec(body)


def test_null_or_empty_metadata_is_none(post_email, providers):
    assert post_email({**MINIMAL, "metadata": None}).status_code == 200
    assert post_email({**MINIMAL, "metadata": {}}).status_code == 200
    assert providers[0].sent == [MINIMAL_MESSAGE, MINIMAL_MESSAGE]


def test_ten_entries_beside_three_tags_are_fine_where_no_provider_shares_its_fields(post_email, providers):
    metadata = {f"key-{n}": "v" * 80 for n in range(10)}
    body = {**MINIMAL, "tags": ["a", "b", "c"], "metadata": metadata}
    assert post_email(body).status_code == 200
    assert dict(providers[0].sent[0].metadata) == metadata
    assert_request_matches_spec(body)


def test_the_order_of_the_metadata_is_spelling_not_another_message(post_email, providers):
    key = {"Idempotency-Key": "order-1234"}
    first = post_email({**MINIMAL, "metadata": METADATA}, headers=key)
    again = post_email({**MINIMAL, "metadata": dict(reversed(METADATA.items()))}, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(providers[0].sent) == 1


def test_other_metadata_under_the_same_key_is_another_message(post_email, providers):
    key = {"Idempotency-Key": "order-1234"}
    assert post_email({**MINIMAL, "metadata": METADATA}, headers=key).status_code == 200
    other = post_email({**MINIMAL, "metadata": {**METADATA, "order": "1235"}}, headers=key)
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert len(providers[0].sent) == 1
