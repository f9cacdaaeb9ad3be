"""The environment, read and validated once at start into one immutable Config."""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from sendmailproxy.envreader import EnvReader
from sendmailproxy.providers import ADAPTERS
from sendmailproxy.push.settings import PushSettings

LOG_FORMATS = ("JSON_ONELINE", "JSON_PRETTY", "DEBUG")
LOG_FORMAT_ALIASES = {"JSON_ONLINE": "JSON_ONELINE"}  # the original README's spelling
# One file per node in the temporary directory: every worker of this node (or pod) shares it.
DEFAULT_IDEMPOTENCY_STORE = "sqlite://" + os.path.join(tempfile.gettempdir(), "sendmailproxy-idempotency.sqlite3")


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
    idempotency_store: str = DEFAULT_IDEMPOTENCY_STORE  # sqlite:///path, redis(s)://... or off
    idempotency_ttl: float = 86400.0
    # Events pushed to the application (SMSP_EVENTS_WEBHOOK_*): None while SMSP_EVENTS_WEBHOOK_URL is unset.
    push: PushSettings | None = None

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
            idempotency_store=_store_url(env),
            idempotency_ttl=env.number("SMSP_IDEMPOTENCY_TTL", 86400.0, float, minimum=1),
            # Events pushed to the application.
            push=PushSettings.from_env(env),
        )
        if env.problems:
            raise ConfigError("\n".join(env.problems))
        return config

    def settings_of(self, provider: str) -> Any:
        """The settings of one listed provider."""
        return self.provider_settings[provider]


def _store_url(env: EnvReader) -> str:
    url = env.text("SMSP_IDEMPOTENCY_STORE", DEFAULT_IDEMPOTENCY_STORE)
    if url.lower() == "off":
        return "off"
    parts = urlsplit(url)
    database = parts.path.strip("/")
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number
        port_ok = False
    sqlite = parts.scheme == "sqlite" and not parts.netloc and parts.path.startswith("/")
    redis = (parts.scheme in ("redis", "rediss") and bool(parts.hostname) and port_ok
             and (database == "" or database.isdigit()))
    if not (sqlite or redis):  # the value itself is not shown: a Redis URL may hold a password
        env.problem("SMSP_IDEMPOTENCY_STORE must be off, sqlite:///absolute/path or redis[s]://[:password@]host:port/db")
    return url


def load_or_exit(environ: Mapping[str, str] | None = None) -> Config:
    """For entry points: the Config, or one readable message on stderr and exit status 2 (no traceback)."""
    try:
        return Config.from_env(environ)
    except ConfigError as error:
        problems = "\n".join(f"  - {line}" for line in str(error).splitlines())
        print(f"sendmailproxy: invalid configuration:\n{problems}", file=sys.stderr)
        raise SystemExit(2) from None
