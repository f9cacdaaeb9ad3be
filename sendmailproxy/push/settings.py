"""The push settings (SMSP_EVENTS_WEBHOOK_*): where events go, the secrets they are signed with, retries, timeout."""
from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sendmailproxy.envreader import EnvReader

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the Standard Webhooks range
# The Standard Webhooks schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (about 3 days).
DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
DEFAULT_TIMEOUT = 15.0


@dataclass(frozen=True)
class PushSettings:
    """The receiving URL, the signing keys (decoded; several while rotating), the delay before each attempt and
    the bound on one attempt."""

    url: str
    keys: tuple[bytes, ...] = field(repr=False)
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls, env: EnvReader) -> "PushSettings | None":
        """The settings, or None when SMSP_EVENTS_WEBHOOK_URL is not set (push off); problems go to `env`."""
        url = env.text("SMSP_EVENTS_WEBHOOK_URL")
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            env.problem("SMSP_EVENTS_WEBHOOK_URL must be an http(s) URL")  # not shown: it may carry a token
        return cls(url=url, keys=_keys(env), schedule=_schedule(env),
                   timeout=env.number("SMSP_EVENTS_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT, float, minimum=0.1))


def decode_secret(secret: str) -> bytes:
    """The key a `whsec_<base64>` secret holds; ValueError unless it is 24-64 bytes of strict base64."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"not {SECRET_PREFIX}...")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    if not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise ValueError(f"{len(key)} bytes")
    return key


def _keys(env: EnvReader) -> tuple[bytes, ...]:
    secrets = env.text("SMSP_EVENTS_WEBHOOK_SECRET").split()
    if not secrets:
        env.problem("SMSP_EVENTS_WEBHOOK_SECRET is required with SMSP_EVENTS_WEBHOOK_URL: "
                    f"{SECRET_PREFIX} followed by base64 of 24 to 64 random bytes (several separated by spaces)")
    keys = []
    for position, secret in enumerate(secrets, 1):
        try:
            keys.append(decode_secret(secret))
        except ValueError:  # the secret itself is never shown
            env.problem(f"SMSP_EVENTS_WEBHOOK_SECRET: secret {position} is not {SECRET_PREFIX} followed by "
                        "base64 of 24 to 64 bytes")
    return tuple(keys)


def _schedule(env: EnvReader) -> tuple[float, ...]:
    raw = env.text("SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE")
    if not raw:
        return DEFAULT_SCHEDULE
    try:
        schedule = tuple(float(part) for part in raw.split(","))
    except ValueError:
        schedule = ()
    # The first attempt is made as soon as the event is stored: the store queues it due at once.
    if not schedule or schedule[0] != 0 or not all(math.isfinite(d) and d >= 0 for d in schedule):
        env.problem("SMSP_EVENTS_WEBHOOK_RETRY_SCHEDULE must be comma-separated delays in seconds before each "
                    f"attempt, the first 0, none negative, not {raw!r}")
        return DEFAULT_SCHEDULE
    return schedule
