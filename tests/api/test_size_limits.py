"""The size limits a user meets, at their real values: the default body limit, and 25 MB once it is raised."""
from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from sendmailproxy.config import Config
from tests.api.support import KEY, MINIMAL, nothing_sent

DEFAULT_BODY_LIMIT = 10 * 1024 * 1024  # SMSP_MAX_BODY_BYTES's default, as README.md states it
RAISED_BODY_LIMIT = 34_000_000  # what README.md tells an operator to set for messages of 25 MB
CONTENT_LIMIT = 25_000_000  # bodies and decoded attachments together (Mailgun's 25 MB)


def with_attachment(size: int) -> bytes:
    """MINIMAL with one attachment of `size` bytes, as a request body."""
    content = base64.b64encode(b"x" * size).decode()
    return json.dumps({**MINIMAL, "attachments": [{"filename": "a.bin", "content": content}]}).encode()


@pytest.fixture
def body_limit() -> int | None:
    """SMSP_MAX_BODY_BYTES, where a test parametrizes it; None for the default."""
    return None


@pytest.fixture
def config(body_limit) -> Config:
    config = Config(api_keys=(KEY,), poll_interval=60.0)
    return config if body_limit is None else dataclasses.replace(config, max_body_bytes=body_limit)


def test_by_default_7_5_mb_of_attachments_fit_in_a_10_mib_body_and_one_byte_more_is_413(post_email, providers):
    at_the_limit = with_attachment(7_500_000)
    at_the_limit += b" " * (DEFAULT_BODY_LIMIT - len(at_the_limit))

    assert post_email(data=at_the_limit + b" ").status_code == 413
    assert nothing_sent(providers)
    assert post_email(data=at_the_limit).status_code == 200
    [message] = providers[0].sent
    assert len(message.attachments[0].content) == 7_500_000


@pytest.mark.parametrize("body_limit", [RAISED_BODY_LIMIT])
def test_with_the_body_limit_raised_25_mb_of_content_is_sent(post_email, providers):
    body = with_attachment(CONTENT_LIMIT - len(MINIMAL["plaintextbody"]))
    assert len(body) <= RAISED_BODY_LIMIT

    assert post_email(data=body).status_code == 200
    assert len(providers[0].sent) == 1


@pytest.mark.parametrize("body_limit", [RAISED_BODY_LIMIT])
def test_with_the_body_limit_raised_one_byte_over_25_mb_is_422(post_email, providers):
    response = post_email(data=with_attachment(CONTENT_LIMIT - len(MINIMAL["plaintextbody"]) + 1))

    assert response.status_code == 422
    assert f"{CONTENT_LIMIT} bytes" in response.get_json()["errors"]["_schema"][0]
    assert nothing_sent(providers)
