"""The X-API-KEY check: any configured key works, nothing else does, and no key is ever echoed or logged."""
from __future__ import annotations

import logging

import pytest

from tests.api.support import KEY, OLD_KEY, README_BODY, nothing_sent


def post(client, headers: dict):
    return client.post("/email", data=README_BODY, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("headers", [
    {},
    {"X-API-KEY": ""},
    {"X-API-KEY": "wrong"},
    {"X-API-KEY": KEY[:-1]},
    {"X-API-KEY": KEY + "x"},
    {"X-API-KEY": KEY.upper()},
    {"X-API-KEY": f"{KEY},{OLD_KEY}"},
    {"Authorization": f"Bearer {KEY}"},
    {"X-API-KEY-X": KEY},
], ids=["missing", "empty", "wrong", "prefix", "longer", "other case", "both keys", "bearer", "other header"])
def test_missing_or_wrong_key_is_401(client, providers, headers):
    response = post(client, headers)
    assert response.status_code == 401
    assert "X-API-KEY" in response.get_json()["message"]
    assert nothing_sent(providers)


@pytest.mark.parametrize("key", [KEY, OLD_KEY], ids=["current", "previous"])
def test_every_configured_key_works(client, key):
    assert post(client, {"X-API-KEY": key}).status_code == 200


@pytest.mark.parametrize("name", ["x-api-key", "X-Api-Key", "x-API-key"])
def test_header_name_is_case_insensitive(client, name):
    assert post(client, {name: KEY}).status_code == 200


SOME_KEYS = [KEY, OLD_KEY, "a-wrong-key-that-looks-real"]


@pytest.mark.parametrize("key", SOME_KEYS)
def test_key_is_never_echoed_or_logged(caplog, client, key):
    caplog.set_level(logging.DEBUG)
    response = post(client, {"X-API-KEY": key})
    assert key not in response.get_data(as_text=True)
    assert all(key not in value for value in response.headers.values())
    assert caplog.records
    assert all(key not in record.getMessage() and key not in str(vars(record)) for record in caplog.records)


@pytest.mark.parametrize("key", SOME_KEYS)
def test_key_never_reaches_the_log_output(capfd, make_app, key):
    # The handler writes to file descriptor 1, which capfd captures.
    client = make_app().test_client()
    post(client, {"X-API-KEY": key})
    output = capfd.readouterr()
    assert '"message": "request"' in output.out
    assert key not in output.out + output.err
