"""The environment, read and validated once at start into one immutable Config."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlparse

KNOWN_PROVIDERS = ("mailgun", "sendgrid")
LOG_FORMATS = ("JSON_ONELINE", "JSON_PRETTY", "DEBUG")
LOG_FORMAT_ALIASES = {"JSON_ONLINE": "JSON_ONELINE"}  # the original README's spelling
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class ConfigError(Exception):
    """The environment is invalid; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Config:
    """Everything the service can be told. Built by `from_env`; tests build it directly."""

    api_keys: tuple[str, ...]
    providers: tuple[str, ...] = KNOWN_PROVIDERS
    mock: bool = False
    mg_domain: str = ""
    mg_api_key: str = ""
    mg_base_url: str = "https://api.mailgun.net"
    sg_api_key: str = ""
    sg_base_url: str = "https://api.sendgrid.com"
    poll_address: str = ""
    provider_timeout: float = 2.0
    poll_interval: float = 5.0
    failure_threshold: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    log_format: str = "JSON_ONELINE"
    log_debug: bool = False
    bind: str = "0.0.0.0:8080"
    workers: int = 2
    threads: int = 64

    def __repr__(self) -> str:
        # Keys must never reach a log line or a traceback through a repr.
        return f"Config(providers={self.providers}, mock={self.mock}, bind={self.bind!r}, ...)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read `SMSP_*` (and `WEB_CONCURRENCY`); raise ConfigError naming every invalid value."""
        env = _Reader(os.environ if environ is None else environ)
        mock = env.boolean("SMSP_MOCK_EMAIL_SERVICE", False)
        providers = env.choices("SMSP_PROVIDERS", "mailgun,sendgrid", KNOWN_PROVIDERS)
        api_keys = tuple(key.strip() for key in env.text("SMSP_API_KEY", "").split(",") if key.strip())
        if not api_keys:
            env.problem("SMSP_API_KEY is required: one client API key, or several separated by commas")
        log_format = env.text("SMSP_LOG_OUTPUT_FORMAT", "JSON_ONELINE").upper()
        log_format = LOG_FORMAT_ALIASES.get(log_format, log_format)
        if log_format not in LOG_FORMATS:
            env.problem(f"SMSP_LOG_OUTPUT_FORMAT must be one of {', '.join(LOG_FORMATS)}")
        config = cls(
            api_keys=api_keys,
            providers=providers,
            mock=mock,
            mg_domain=env.required("SMSP_MG_DOMAIN", when=not mock and "mailgun" in providers),
            mg_api_key=env.required("SMSP_MG_API_KEY", when=not mock and "mailgun" in providers),
            mg_base_url=env.url("SMSP_MG_BASE_URL", "https://api.mailgun.net"),
            sg_api_key=env.required("SMSP_SG_API_KEY", when=not mock and "sendgrid" in providers),
            sg_base_url=env.url("SMSP_SG_BASE_URL", "https://api.sendgrid.com"),
            poll_address=env.required("SMSP_POLL_MESSAGE_ADDRESS", when=not mock) or "probe@example.com",
            provider_timeout=env.number("SMSP_PROVIDER_TIMEOUT", 2.0, float, minimum=0.05),
            poll_interval=env.number("SMSP_POLL_INTERVAL", 5.0, float, minimum=0.1),
            failure_threshold=env.number("SMSP_FAILURE_THRESHOLD", 1, int, minimum=1),
            max_body_bytes=env.number("SMSP_MAX_BODY_BYTES", 10 * 1024 * 1024, int, minimum=1024),
            log_format=log_format,
            log_debug=env.boolean("SMSP_LOG_OUTPUT_DEBUG", False),
            bind=env.text("SMSP_BIND", "0.0.0.0:8080"),
            workers=env.number("WEB_CONCURRENCY", 2, int, minimum=1),
            threads=env.number("SMSP_THREADS", 64, int, minimum=1),
        )
        if env.problems:
            raise ConfigError("\n".join(env.problems))
        return config


class _Reader:
    """Typed getters over the environment that collect problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def text(self, name: str, default: str) -> str:
        return self.environ.get(name, default).strip()

    def required(self, name: str, *, when: bool) -> str:
        value = self.text(name, "")
        if when and not value:
            self.problem(f"{name} is required")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name, "true" if default else "false").lower()
        if value not in TRUE + FALSE:
            self.problem(f"{name} must be true or false, not {value!r}")
        return value in TRUE

    def number(self, name: str, default, kind: Callable, *, minimum):
        raw = self.text(name, "")
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self.problem(f"{name} must be a{'n integer' if kind is int else ' number'}, not {raw!r}")
            return default
        if not value >= minimum:  # also catches NaN
            self.problem(f"{name} must be at least {minimum}, not {raw!r}")
        return value

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/")
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.problem(f"{name} must be an http(s) URL, not {value!r}")
        return value

    def choices(self, name: str, default: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(part.strip().lower() for part in self.text(name, default).split(",") if part.strip())
        unknown = [n for n in names if n not in allowed]
        if not names or unknown or len(set(names)) != len(names):
            self.problem(f"{name} must list each of {', '.join(allowed)} at most once, in failover order")
        return names


def load_or_exit(environ: Mapping[str, str] | None = None) -> Config:
    """For entry points: the Config, or one readable message on stderr and exit status 2 (no traceback)."""
    try:
        return Config.from_env(environ)
    except ConfigError as error:
        problems = "\n".join(f"  - {line}" for line in str(error).splitlines())
        print(f"sendmailproxy: invalid configuration:\n{problems}", file=sys.stderr)
        raise SystemExit(2) from None
