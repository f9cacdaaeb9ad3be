"""The environment is read once, typed, and every problem is reported together without a traceback."""
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sendmailproxy.config import Config, ConfigError, load_or_exit
from sendmailproxy.events.settings import WebhookSettings
from sendmailproxy.providers.mailgun import MailgunSettings
from sendmailproxy.providers.postmark import PostmarkSettings
from sendmailproxy.providers.sendgrid import SendGridSettings
from sendmailproxy.providers.ses import SesSettings

PRODUCTION = {
    "SMSP_API_KEY": "client-key",
    "SMSP_MG_DOMAIN": "mg.example.com",
    "SMSP_MG_API_KEY": "mg-secret",
    "SMSP_SG_API_KEY": "sg-secret",
    "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com",
}


def test_defaults_match_the_original_service():
    config = Config.from_env(PRODUCTION)
    assert config.providers == ("mailgun", "sendgrid")
    assert config.provider_timeout == 2.0
    assert config.poll_interval == 5.0
    assert config.failure_threshold == 1
    assert config.max_body_bytes == 10 * 1024 * 1024
    assert config.bind == "0.0.0.0:8080"
    assert config.settings_of("mailgun").base_url == "https://api.mailgun.net"
    assert config.settings_of("sendgrid").base_url == "https://api.sendgrid.com"
    assert config.log_format == "JSON_ONELINE"
    assert not config.mock


def test_every_setting_is_read():
    config = Config.from_env({
        **PRODUCTION,
        "SMSP_API_KEY": " old , new ",
        "SMSP_PROVIDERS": "SendGrid, mailgun",
        "SMSP_MG_BASE_URL": "https://api.eu.mailgun.net/",
        "SMSP_SG_BASE_URL": "http://127.0.0.1:9000",
        "SMSP_PROVIDER_TIMEOUT": "0.5",
        "SMSP_POLL_INTERVAL": "1.5",
        "SMSP_FAILURE_THRESHOLD": "3",
        "SMSP_MAX_BODY_BYTES": "2048",
        "SMSP_LOG_OUTPUT_FORMAT": "json_pretty",
        "SMSP_LOG_OUTPUT_DEBUG": "true",
        "SMSP_BIND": "127.0.0.1:9999",
        "WEB_CONCURRENCY": "4",
        "SMSP_THREADS": "8",
    })
    assert config.api_keys == ("old", "new")
    assert config.providers == ("sendgrid", "mailgun")
    assert config.settings_of("mailgun") == MailgunSettings("mg.example.com", "mg-secret", "https://api.eu.mailgun.net")
    assert config.settings_of("sendgrid") == SendGridSettings("sg-secret", "http://127.0.0.1:9000")
    assert (config.provider_timeout, config.poll_interval, config.failure_threshold) == (0.5, 1.5, 3)
    assert config.max_body_bytes == 2048
    assert (config.log_format, config.log_debug) == ("JSON_PRETTY", True)
    assert (config.bind, config.workers, config.threads) == ("127.0.0.1:9999", 4, 8)


def test_the_original_readmes_log_format_spelling_is_accepted():
    assert Config.from_env({**PRODUCTION, "SMSP_LOG_OUTPUT_FORMAT": "JSON_ONLINE"}).log_format == "JSON_ONELINE"


def test_mock_mode_needs_only_a_client_key():
    config = Config.from_env({"SMSP_API_KEY": "k", "SMSP_MOCK_EMAIL_SERVICE": "true"})
    assert config.mock and config.poll_address


def test_a_single_provider_needs_only_its_own_credentials():
    config = Config.from_env({"SMSP_API_KEY": "k", "SMSP_PROVIDERS": "sendgrid", "SMSP_SG_API_KEY": "s",
                              "SMSP_POLL_MESSAGE_ADDRESS": "p@example.com", "SMSP_MG_BASE_URL": "unread"})
    assert config.providers == ("sendgrid",)
    assert set(config.provider_settings) == {"sendgrid"}  # an unlisted provider's variables are not read


@pytest.mark.parametrize("name, value, complaint", [
    ("SMSP_API_KEY", " , ", "SMSP_API_KEY is required"),
    ("SMSP_PROVIDERS", "mailgun,nosuch", "SMSP_PROVIDERS must list"),
    ("SMSP_PROVIDERS", "mailgun,mailgun", "SMSP_PROVIDERS must list"),
    ("SMSP_PROVIDERS", "", "SMSP_PROVIDERS must list"),
    ("SMSP_MOCK_EMAIL_SERVICE", "maybe", "SMSP_MOCK_EMAIL_SERVICE must be true or false"),
    ("SMSP_PROVIDER_TIMEOUT", "soon", "SMSP_PROVIDER_TIMEOUT must be a number"),
    ("SMSP_PROVIDER_TIMEOUT", "0", "SMSP_PROVIDER_TIMEOUT must be at least"),
    ("SMSP_PROVIDER_TIMEOUT", "nan", "SMSP_PROVIDER_TIMEOUT must be at least"),
    ("SMSP_POLL_INTERVAL", "-1", "SMSP_POLL_INTERVAL must be at least"),
    ("SMSP_POLL_MAX_INTERVAL", "4", "SMSP_POLL_MAX_INTERVAL must be at least 5.0"),  # the poll interval
    ("SMSP_FAILURE_THRESHOLD", "1.5", "SMSP_FAILURE_THRESHOLD must be an integer"),
    ("SMSP_MAX_BODY_BYTES", "10", "SMSP_MAX_BODY_BYTES must be at least"),
    ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be at least"),
    ("SMSP_THREADS", "many", "SMSP_THREADS must be an integer"),
    ("SMSP_LOG_OUTPUT_FORMAT", "XML", "SMSP_LOG_OUTPUT_FORMAT must be one of"),
    ("SMSP_MG_BASE_URL", "api.mailgun.net", "SMSP_MG_BASE_URL must be an http(s) URL"),
    ("SMSP_SG_BASE_URL", "ftp://x", "SMSP_SG_BASE_URL must be an http(s) URL"),
    ("SMSP_MG_DOMAIN", "", "SMSP_MG_DOMAIN is required"),
    ("SMSP_MG_API_KEY", "", "SMSP_MG_API_KEY is required"),
    ("SMSP_SG_API_KEY", "", "SMSP_SG_API_KEY is required"),
    ("SMSP_POLL_MESSAGE_ADDRESS", "", "SMSP_POLL_MESSAGE_ADDRESS is required"),
])
def test_an_invalid_value_is_named(name, value, complaint):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**PRODUCTION, name: value})
    assert complaint in str(raised.value)


def test_probes_back_off_to_a_minute_unless_told_and_never_below_the_poll_interval():
    assert Config.from_env(PRODUCTION).poll_max_interval == 60.0
    assert Config.from_env({**PRODUCTION, "SMSP_POLL_MAX_INTERVAL": "300"}).poll_max_interval == 300.0
    assert Config.from_env({**PRODUCTION, "SMSP_POLL_INTERVAL": "90"}).poll_max_interval == 90.0


SES_AND_POSTMARK = {"SMSP_API_KEY": "k", "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com",
                    "SMSP_PROVIDERS": "ses,postmark", "SMSP_SES_REGION": "eu-west-1", "SMSP_PM_SERVER_TOKEN": "pm"}


def test_ses_and_postmark_defaults():
    config = Config.from_env(SES_AND_POSTMARK)
    assert config.settings_of("ses") == SesSettings("eu-west-1", "https://email.eu-west-1.amazonaws.com", "")
    assert config.settings_of("postmark") == PostmarkSettings("pm", "https://api.postmarkapp.com", "outbound")


def test_ses_and_postmark_settings_are_read():
    config = Config.from_env({**SES_AND_POSTMARK, "SMSP_SES_BASE_URL": "http://127.0.0.1:9/", "SMSP_SES_CONFIGURATION_SET":
                              "transactional", "SMSP_PM_BASE_URL": "http://127.0.0.1:8", "SMSP_PM_MESSAGE_STREAM": "alerts"})
    assert config.settings_of("ses") == SesSettings("eu-west-1", "http://127.0.0.1:9", "transactional")
    assert config.settings_of("postmark") == PostmarkSettings("pm", "http://127.0.0.1:8", "alerts")
    assert "server_token" not in repr(config.settings_of("postmark"))


@pytest.mark.parametrize("name, value, complaint", [
    ("SMSP_SES_REGION", "", "SMSP_SES_REGION is required"),
    ("SMSP_SES_REGION", "Ireland", "SMSP_SES_REGION must be an AWS region"),
    ("SMSP_SES_BASE_URL", "email.amazonaws.com", "SMSP_SES_BASE_URL must be an http(s) URL"),
    ("SMSP_PM_SERVER_TOKEN", "", "SMSP_PM_SERVER_TOKEN is required"),
    ("SMSP_PM_BASE_URL", "api.postmarkapp.com", "SMSP_PM_BASE_URL must be an http(s) URL"),
])
def test_an_invalid_ses_or_postmark_value_is_named(name, value, complaint):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**SES_AND_POSTMARK, name: value})
    assert complaint in str(raised.value)


def test_the_idempotency_store_defaults_to_a_sqlite_file_in_the_temp_directory():
    config = Config.from_env(PRODUCTION)
    assert config.idempotency_store == f"sqlite://{tempfile.gettempdir()}/sendmailproxy-idempotency.sqlite3"
    assert config.idempotency_ttl == 86400


@pytest.mark.parametrize("value", ["off", "OFF", "sqlite:///var/lib/x.sqlite3", "redis://redis:6379/0",
                                   "rediss://:s3cret@redis.example.com:6380/2", "redis://localhost"])
def test_idempotency_stores_that_are_accepted(value):
    assert Config.from_env({**PRODUCTION, "SMSP_IDEMPOTENCY_STORE": value}).idempotency_store == (
        "off" if value.lower() == "off" else value)


@pytest.mark.parametrize("value", ["", "sqlite://relative/path", "redis://:s3cret@/0", "redis://:s3cret@h:port/0",
                                   "redis://:s3cret@h:6379/zero", "memcached://h:11211", "on"])
def test_an_invalid_idempotency_store_is_named_without_showing_it(value):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**PRODUCTION, "SMSP_IDEMPOTENCY_STORE": value})
    assert "SMSP_IDEMPOTENCY_STORE must be" in str(raised.value) and "s3cret" not in str(raised.value)


DEFAULT_STORE = f"sqlite://{tempfile.gettempdir()}/sendmailproxy-idempotency.sqlite3"
REDIS = "redis://:s3cret@redis:6379/0"


@pytest.mark.parametrize("environ, store_url, keys", [
    ({}, DEFAULT_STORE, DEFAULT_STORE),  # one file for everything, where the keys always were
    ({"SMSP_STORE": REDIS}, REDIS, REDIS),
    # An existing multi-pod deployment shares its events with no change.
    ({"SMSP_IDEMPOTENCY_STORE": REDIS}, REDIS, REDIS),
    ({"SMSP_STORE": REDIS, "SMSP_IDEMPOTENCY_STORE": "sqlite:///var/lib/keys.sqlite3"}, REDIS,
     "sqlite:///var/lib/keys.sqlite3"),
    ({"SMSP_STORE": REDIS, "SMSP_IDEMPOTENCY_STORE": "off"}, REDIS, "off"),
    ({"SMSP_IDEMPOTENCY_STORE": "off"}, DEFAULT_STORE, "off"),
])
def test_smsp_store_names_the_store_for_everything_and_the_key_store_follows_it_unless_set(environ, store_url, keys):
    config = Config.from_env({**PRODUCTION, **environ})
    assert (config.store_url, config.idempotency_store) == (store_url, keys)


@pytest.mark.parametrize("value", ["", "off", "sqlite://relative/path", "redis://:s3cret@h:port/0", "memcached://h:1"])
def test_an_invalid_store_is_named_without_showing_it(value):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**PRODUCTION, "SMSP_STORE": value})
    assert str(raised.value).startswith("SMSP_STORE must be") and "s3cret" not in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1  # named once, though the key store follows it


def test_events_and_webhook_settings_default_and_are_read():
    config = Config.from_env(PRODUCTION)
    assert (config.events_ttl, config.webhooks.max_age) == (604800, 129600)
    assert config.webhooks == WebhookSettings()  # every webhook off
    config = Config.from_env({**PRODUCTION, "SMSP_EVENTS_TTL": "3600", "SMSP_WEBHOOK_MAX_AGE": "7200",
                              "SMSP_MG_WEBHOOK_SIGNING_KEY": "mg-signing-secret", "SMSP_PM_WEBHOOK_USERNAME": "pm",
                              "SMSP_PM_WEBHOOK_PASSWORD": "pm-secret"})
    assert (config.events_ttl, config.webhooks.max_age) == (3600, 7200)
    assert config.webhooks.mailgun_signing_key == "mg-signing-secret"
    assert "mg-signing-secret" not in repr(config) and "pm-secret" not in repr(config)


@pytest.mark.parametrize("name, value", [("SMSP_EVENTS_TTL", "0"), ("SMSP_EVENTS_TTL", "a week"),
                                         ("SMSP_WEBHOOK_MAX_AGE", "0"), ("SMSP_SG_WEBHOOK_PUBLIC_KEY", "not a key")])
def test_an_invalid_events_setting_is_named(name, value):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**PRODUCTION, name: value})
    assert name in str(raised.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"SMSP_THREADS": "0", "SMSP_POLL_INTERVAL": "x"})
    problems = str(raised.value).splitlines()
    assert len(problems) >= 6  # key, three credentials, poll address, threads, interval
    assert any("SMSP_THREADS" in p for p in problems) and any("SMSP_POLL_INTERVAL" in p for p in problems)


def test_secrets_stay_out_of_the_repr():
    text = repr(Config.from_env(PRODUCTION))
    assert "client-key" not in text and "mg-secret" not in text and "sg-secret" not in text


def test_load_or_exit_prints_one_readable_message(capsys):
    with pytest.raises(SystemExit) as raised:
        load_or_exit({"SMSP_THREADS": "0"})
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sendmailproxy: invalid configuration:")
    assert "Traceback" not in err


def test_gunicorn_refuses_to_start_with_a_bad_environment(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SMSP_API_KEY": "", "SMSP_THREADS": "zero"}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                            env=env, capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert result.returncode != 0
    assert "SMSP_API_KEY is required" in result.stderr and "SMSP_THREADS must be an integer" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
