"""Fixtures for the push: secrets made here, a receiver that verifies with `standardwebhooks`, a SQLite store."""
from __future__ import annotations

import base64
import os

import pytest

from sendmailproxy.events import open_events
from sendmailproxy.events.model import Event
from sendmailproxy.push.settings import PushSettings, decode_secret
from sendmailproxy.store.sqlite import SqliteBackend


def new_secret(size: int = 32) -> str:
    """A Standard Webhooks secret: whsec_ and base64 of `size` random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(size)).decode()


def event(n: int, type: str = "delivered") -> Event:
    return Event(id=f"ev_{n:032x}", type=type, provider="sendgrid", message_id=f"<m{n}@example.com>",
                 recipient="to@example.com", occurred_at="2026-12-03T13:23:06Z", reason=None,
                 metadata={"order": str(n)}, tags=("welcome",))


def settings(receiver_url: str, *secrets: str, schedule=(0, 0.1, 0.1), timeout: float = 1.0) -> PushSettings:
    return PushSettings(receiver_url, tuple(decode_secret(s) for s in secrets), tuple(schedule), timeout)


@pytest.fixture
def events(tmp_path):
    return open_events(SqliteBackend(str(tmp_path / "store.sqlite3")), push=True)
