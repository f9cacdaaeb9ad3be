"""Email address checks shared by every fake provider, strict enough to catch an adapter's mistakes."""

import re

_ATOM = r"[^@\s<>,;:\"()\[\]\\]+"
_EMAIL = re.compile(rf"{_ATOM}@{_ATOM}\.{_ATOM}")
# A display name (quoted, or bare words) followed by an address in angle brackets.
_MAILBOX = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*"|[^<>"]*?)\s*<([^<>]*)>\s*')


def is_email(text: str) -> bool:
    return _EMAIL.fullmatch(text) is not None


def is_mailbox(text: str) -> bool:
    """`addr` or `Name <addr>`, as Mailgun accepts them."""
    named = _MAILBOX.fullmatch(text)
    return is_email(named[1] if named else text.strip())


def split_mailboxes(value: str) -> list[str]:
    """Split a comma list, keeping commas inside quoted names or angle brackets."""
    items, current, quoted, angle, escaped = [], [], False, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"' and not angle:
            quoted = not quoted
        elif char in "<>" and not quoted:
            angle = char == "<"
        elif char == "," and not quoted and not angle:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def format_mailbox(email: str, name: str | None = None) -> str:
    return f"{name} <{email}>" if name else email
