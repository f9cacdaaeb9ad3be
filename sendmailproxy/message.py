"""The immutable email every provider builds its own payload from."""
from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr


@dataclass(frozen=True)
class Address:
    """One mailbox: an address and an optional display name."""

    email: str
    name: str = ""

    def __str__(self) -> str:
        # formataddr quotes names with specials and RFC 2047-encodes non-ASCII ones.
        return formataddr((self.name, self.email)) if self.name else self.email


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message; `content` is the decoded bytes."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Message:
    """A validated email. Tuples, not lists, so no adapter can change it for the next one."""

    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: Address | None = None
    headers: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value) sorted by key; comes back in the events


def probe_message(address: str) -> Message:
    """The dummy message a probe sends (in the provider's no-delivery mode) to test the send path."""
    mailbox = Address(address)
    return Message(
        sender=mailbox,
        to=(mailbox,),
        subject="sendmailproxy probe",
        text="Circuit probe from sendmailproxy. Sent in the provider's test mode; not delivered.",
    )
