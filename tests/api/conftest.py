"""Fixtures for the HTTP API: a fresh app per test with fake providers, and a client that checks the spec."""
from __future__ import annotations

import dataclasses
import json as jsonlib

import pytest

from sendmailproxy import create_app
from sendmailproxy.config import Config
from testkit.providers import FakeProvider
from tests.api.support import KEY, MAX_BODY_BYTES, OLD_KEY, SpecCheckingClient


@pytest.fixture
def providers() -> list[FakeProvider]:
    return [FakeProvider("mailgun"), FakeProvider("sendgrid")]


@pytest.fixture
def config(tmp_path) -> Config:
    # A long poll interval: no probe fires during a test, so an opened circuit stays open.
    return Config(api_keys=(KEY, OLD_KEY), poll_interval=60.0, max_body_bytes=MAX_BODY_BYTES,
                  idempotency_store=f"sqlite://{tmp_path}/idempotency.sqlite3")


@pytest.fixture
def make_app(config, providers):
    """Factory: the app built from the `config` fixture (with `changes`, if any) and the `providers` fixture; its
    prober stops after the test."""
    apps = []

    def make(**changes):
        app = create_app(dataclasses.replace(config, **changes), providers)
        app.test_client_class = SpecCheckingClient
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["sendmailproxy"].prober.stop()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app) -> SpecCheckingClient:
    return app.test_client()


@pytest.fixture
def post_email(client):
    """POST /email with the current key; `json` is sent as JSON unless `data` gives raw bytes."""

    def post(json=None, *, data=None, headers=None, content_type="application/json"):
        # Serialised here rather than by the client, which would sort the keys.
        data = jsonlib.dumps(json).encode() if data is None else data
        return client.post("/email", data=data, headers={"X-API-KEY": KEY, **(headers or {})},
                           content_type=content_type)

    return post
