"""The environment, read and validated once at start into one immutable Config."""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping

from sendmailproxy.envreader import EnvReader
from sendmailproxy.events.settings import WebhookSettings
from sendmailproxy.providers import ADAPTERS
from sendmailproxy.store import STORE_URL_FORMS, is_store_url

LOG_FORMATS = ("JSON_ONELINE", "JSON_PRETTY", "DEBUG")
LOG_FORMAT_ALIASES = {"JSON_ONLINE": "JSON_ONELINE"}  # the original README's spelling
# One file per node in the temporary directory: every worker of this node (or pod) shares it. It keeps the name
# it had when it held only Idempotency-Keys, so keys written before an upgrade are still found after it.
DEFAULT_STORE = "sqlite://" + os.path.join(tempfile.gettempdir(), "sendmailproxy-idempotency.sqlite3")
EVENTS_TTL_SECONDS = 604800.0


class ConfigError(Exception):
    """The environment is invalid; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Config:
    """Everything the service can be told. Built by `from_env`; tests build it directly."""

    api_keys: tuple[str, ...]
    providers: tuple[str, ...] = ("mailgun", "sendgrid")
    # Each listed provider's own settings (its adapter's `Settings`), by name.
    provider_settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    mock: bool = False
    poll_address: str = ""
    provider_timeout: float = 2.0
    poll_interval: float = 5.0
    poll_max_interval: float = 60.0  # probes of a provider that stays down back off to this
    failure_threshold: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    log_format: str = "JSON_ONELINE"
    log_debug: bool = False
    bind: str = "0.0.0.0:8080"
    workers: int = 2
    threads: int = 64
    idempotency_store: str = DEFAULT_STORE  # sqlite:///path, redis(s)://... or off
    idempotency_ttl: float = 86400.0
    # Delivery events (issue 19): where everything is kept (see store_url), the webhooks' secrets and the
    # replay window (SMSP_WEBHOOK_MAX_AGE is webhooks.max_age), and how long the feed shows an event.
    store: str | None = None  # SMSP_STORE; None: the rule in store_url decides
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    events_ttl: float = EVENTS_TTL_SECONDS
    # Suppression list (issue 20): the send-path check, what a store outage does to it, the admin API's keys.
    suppression: bool = True  # SMSP_SUPPRESSION: False sends without looking the recipients up
    suppression_on_store_error: str = "send"  # "send" (fail open) or "refuse" (503)
    admin_api_keys: tuple[str, ...] = ()  # SMSP_ADMIN_API_KEY; none: the admin API answers 403

    def __repr__(self) -> str:
        # Keys must never reach a log line or a traceback through a repr.
        return f"Config(providers={self.providers}, mock={self.mock}, bind={self.bind!r}, ...)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read `SMSP_*` (and `WEB_CONCURRENCY`); raise ConfigError naming every invalid value."""
        env = EnvReader(os.environ if environ is None else environ)
        mock = env.boolean("SMSP_MOCK_EMAIL_SERVICE", False)
        providers = env.choices("SMSP_PROVIDERS", "mailgun,sendgrid", tuple(ADAPTERS))
        api_keys = tuple(key.strip() for key in env.text("SMSP_API_KEY", "").split(",") if key.strip())
        if not api_keys:
            env.problem("SMSP_API_KEY is required: one client API key, or several separated by commas")
        log_format = env.text("SMSP_LOG_OUTPUT_FORMAT", "JSON_ONELINE").upper()
        log_format = LOG_FORMAT_ALIASES.get(log_format, log_format)
        if log_format not in LOG_FORMATS:
            env.problem(f"SMSP_LOG_OUTPUT_FORMAT must be one of {', '.join(LOG_FORMATS)}")
        poll_interval = env.number("SMSP_POLL_INTERVAL", 5.0, float, minimum=0.1)
        store = _store_url(env, "SMSP_STORE")
        config = cls(
            api_keys=api_keys,
            providers=providers,
            # Only the listed providers' settings are read; in mock mode none of them is required.
            provider_settings={name: ADAPTERS[name].Settings.from_env(env, required=not mock)
                               for name in providers if name in ADAPTERS},
            mock=mock,
            poll_address=env.required("SMSP_POLL_MESSAGE_ADDRESS", when=not mock) or "probe@example.com",
            provider_timeout=env.number("SMSP_PROVIDER_TIMEOUT", 2.0, float, minimum=0.05),
            poll_interval=poll_interval,
            # Never below the poll interval, so a long SMSP_POLL_INTERVAL alone stays valid.
            poll_max_interval=env.number("SMSP_POLL_MAX_INTERVAL", max(60.0, poll_interval), float,
                                         minimum=poll_interval),
            failure_threshold=env.number("SMSP_FAILURE_THRESHOLD", 1, int, minimum=1),
            max_body_bytes=env.number("SMSP_MAX_BODY_BYTES", 10 * 1024 * 1024, int, minimum=1024),
            log_format=log_format,
            log_debug=env.boolean("SMSP_LOG_OUTPUT_DEBUG", False),
            bind=env.text("SMSP_BIND", "0.0.0.0:8080"),
            workers=env.number("WEB_CONCURRENCY", 2, int, minimum=1),
            threads=env.number("SMSP_THREADS", 64, int, minimum=1),
            idempotency_store=_idempotency_store(env, store),
            idempotency_ttl=env.number("SMSP_IDEMPOTENCY_TTL", 86400.0, float, minimum=1),
            # Delivery events (issue 19).
            store=store or None,
            webhooks=WebhookSettings.from_env(env),
            events_ttl=env.number("SMSP_EVENTS_TTL", EVENTS_TTL_SECONDS, float, minimum=1),
            # Suppression list (issue 20).
            suppression=env.boolean("SMSP_SUPPRESSION", True),
            suppression_on_store_error=_one_of(env, "SMSP_SUPPRESSION_ON_STORE_ERROR", SUPPRESSION_STORE_ERRORS),
            admin_api_keys=_admin_keys(env, api_keys),
        )
        if env.problems:
            raise ConfigError("\n".join(env.problems))
        return config

    def settings_of(self, provider: str) -> Any:
        """The settings of one listed provider."""
        return self.provider_settings[provider]

    @property
    def store_url(self) -> str:
        """The store of everything the service keeps: SMSP_STORE; unset, the Idempotency-Keys' store (so a
        deployment that shares keys in Redis shares its events too); with keys off, the default file."""
        if self.store:
            return self.store
        return DEFAULT_STORE if self.idempotency_store == "off" else self.idempotency_store


def _idempotency_store(env: EnvReader, store: str) -> str:
    """SMSP_IDEMPOTENCY_STORE (a store URL or off); unset, the `store` SMSP_STORE names, else the default file."""
    if env.text("SMSP_IDEMPOTENCY_STORE").lower() == "off":
        return "off"
    return _store_url(env, "SMSP_IDEMPOTENCY_STORE", "off, ") or store or DEFAULT_STORE


def _store_url(env: EnvReader, name: str, also: str = "") -> str:
    """The store URL in `name`, or "" when it is unset; a problem (the value never shown: a Redis URL may hold
    a password) when it is not one."""
    if name not in env.environ:
        return ""
    url = env.text(name)
    if not is_store_url(url):
        env.problem(f"{name} must be {also}{STORE_URL_FORMS}")
    return url


SUPPRESSION_STORE_ERRORS = ("send", "refuse")  # SMSP_SUPPRESSION_ON_STORE_ERROR: fail open (default) or closed


def _one_of(env: EnvReader, name: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed` (the first is the default), case-insensitive."""
    value = env.text(name, allowed[0]).lower()
    if value not in allowed:
        env.problem(f"{name} must be {' or '.join(allowed)}, not {value!r}")
    return value


def _admin_keys(env: EnvReader, api_keys: tuple[str, ...]) -> tuple[str, ...]:
    """SMSP_ADMIN_API_KEY's keys (several during a rotation); none of them may also be a client key."""
    keys = tuple(key.strip() for key in env.text("SMSP_ADMIN_API_KEY").split(",") if key.strip())
    if set(keys) & set(api_keys):  # a client would hold admin rights; the keys themselves are not shown
        env.problem("SMSP_ADMIN_API_KEY must not repeat a key of SMSP_API_KEY")
    return keys


def load_or_exit(environ: Mapping[str, str] | None = None) -> Config:
    """For entry points: the Config, or one readable message on stderr and exit status 2 (no traceback)."""
    try:
        return Config.from_env(environ)
    except ConfigError as error:
        problems = "\n".join(f"  - {line}" for line in str(error).splitlines())
        print(f"sendmailproxy: invalid configuration:\n{problems}", file=sys.stderr)
        raise SystemExit(2) from None
