"""Typed getters over the environment that collect every problem instead of stopping at the first."""
from __future__ import annotations

from typing import Callable, Mapping
from urllib.parse import urlparse

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class EnvReader:
    """Reads `SMSP_*` values; `problems` lists what was wrong, one readable line each."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def text(self, name: str, default: str = "") -> str:
        return self.environ.get(name, default).strip()

    def required(self, name: str, *, when: bool) -> str:
        value = self.text(name)
        if when and not value:
            self.problem(f"{name} is required")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name, "true" if default else "false").lower()
        if value not in TRUE + FALSE:
            self.problem(f"{name} must be true or false, not {value!r}")
        return value in TRUE

    def number(self, name: str, default, kind: Callable, *, minimum):
        raw = self.text(name)
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
