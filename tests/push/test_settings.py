"""SMSP_EVENTS_WEBHOOK_*: off until the URL is set, then a valid secret required; secrets never shown."""
from __future__ import annotations

import base64

import pytest

from sendmailproxy.config import Config, ConfigError
from sendmailproxy.push.settings import DEFAULT_SCHEDULE
from tests.push.conftest import new_secret

BASE = {"SMSP_API_KEY": "client-key", "SMSP_MOCK_EMAIL_SERVICE": "true"}


def push_env(**values) -> dict[str, str]:
    return {**BASE, "SMSP_EVENTS_WEBHOOK_URL": "https://app.example.com/hooks/", **values}


def test_off_without_a_url():
    assert Config.from_env(BASE).push is None


def test_the_defaults_follow_standard_webhooks():
    secret = new_secret()
    push = Config.from_env(push_env(SMSP_EVENTS_WEBHOOK_SECRET=secret)).push
    assert push.url == "https://app.example.com/hooks/"  # as given: a trailing slash may matter to the app
    assert push.keys == (base64.b64decode(secret[6:]),)
    assert push.schedule == DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    assert push.timeout == 15


def test_every_setting_is_read_and_several_secrets_rotate():
    old, new = new_secret(24), new_secret(64)
    push = Config.from_env(push_env(SMSP_EVENTS_WEBHOOK_SECRET=f" {old}  {new} ",
                                    SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE="0, 1.5,60",
                                    SMSP_EVENTS_WEBHOOK_TIMEOUT="2.5")).push
    assert push.keys == (base64.b64decode(old[6:]), base64.b64decode(new[6:]))
    assert push.schedule == (0, 1.5, 60)
    assert push.timeout == 2.5


@pytest.mark.parametrize("values, problem", [
    ({"SMSP_EVENTS_WEBHOOK_SECRET": " "}, "SMSP_EVENTS_WEBHOOK_SECRET is required"),
    ({"SMSP_EVENTS_WEBHOOK_URL": "ftp://app.example.com/"}, "SMSP_EVENTS_WEBHOOK_URL must be an http(s) URL"),
    ({"SMSP_EVENTS_WEBHOOK_URL": "https:///nohost"}, "SMSP_EVENTS_WEBHOOK_URL must be an http(s) URL"),
    ({"SMSP_EVENTS_WEBHOOK_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}, "secret 1 is not whsec_"),
    ({"SMSP_EVENTS_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"x" * 23).decode()}, "secret 1 is not whsec_"),
    ({"SMSP_EVENTS_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"x" * 65).decode()}, "secret 1 is not whsec_"),
    ({"SMSP_EVENTS_WEBHOOK_SECRET": new_secret() + " whsec_not*base64*at*all*at*all*at*all*"},
     "secret 2 is not whsec_"),
    ({"SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE": "5,10"}, "the first 0"),
    ({"SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE": "0,-1"}, "none negative"),
    ({"SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE": "0,,5"}, "SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE must be"),
    ({"SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE": "0,inf"}, "SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE must be"),
    ({"SMSP_EVENTS_WEBHOOK_TIMEOUT": "0"}, "SMSP_EVENTS_WEBHOOK_TIMEOUT must be at least 0.1"),
])
def test_invalid_values_are_refused_by_name(values, problem):
    with pytest.raises(ConfigError) as raised:
        Config.from_env(push_env(**{"SMSP_EVENTS_WEBHOOK_SECRET": new_secret(), **values}))
    assert problem in str(raised.value)


def test_a_secret_is_never_shown():
    good, bad = new_secret(), "whsec_" + base64.b64encode(b"short").decode()
    with pytest.raises(ConfigError) as raised:
        Config.from_env(push_env(SMSP_EVENTS_WEBHOOK_SECRET=f"{good} {bad}"))
    assert good[6:] not in str(raised.value) and bad[6:] not in str(raised.value)
    push = Config.from_env(push_env(SMSP_EVENTS_WEBHOOK_SECRET=good)).push
    assert good[6:] not in repr(push) and str(base64.b64decode(good[6:])) not in repr(push)
