"""One SMTP session driven command by command, so that every failure is known by the phase it stopped in.

smtplib's exceptions do not say which command was waiting (a timeout and a close are both
SMTPServerDisconnected, and SMTPDataError covers DATA and the final dot), so the session keeps `phase`
current; smtpreplies.py decides the outcome from it.
"""
from __future__ import annotations

import enum
import os
import re
import smtplib
import ssl
import time
from dataclasses import dataclass, field

from sendmailproxy.providers.reasons import one_line

CHUNK_BYTES = 64 * 1024  # the body goes out in chunks, each with the command timeout (RFC 5321 4.5.3.2.5)


class Phase(enum.Enum):
    """Where a session is; the value names it in reasons."""

    CONNECT = "connect"  # TCP, implicit TLS and the greeting
    EHLO = "EHLO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    RSET = "RSET"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"  # waiting for 354: no byte of the message has been sent
    BODY = "message"  # sending it: until the final dot is out, the server must discard a partial message
    FINAL = "reply to the final dot"  # the one window in which the message may exist unconfirmed
    QUIT = "QUIT"


class RefusedError(Exception):
    """The server answered a command with a code that ends the transaction."""

    def __init__(self, code: int, text: bytes | str):
        super().__init__(code, text)
        self.code, self.text = code, one_line(text)


class RecipientsRefusedError(Exception):
    """Some recipients were refused (and the transaction reset): the message was not sent to anyone."""

    def __init__(self, refusals: dict[str, RefusedError]):
        super().__init__(refusals)
        self.refusals = refusals


@dataclass(frozen=True)
class Relay:
    """Where and how to connect: `security` is starttls, implicit or none."""

    host: str
    port: int
    security: str
    user: str
    password: str = field(repr=False)
    helo: str
    timeout: float
    tls: ssl.SSLContext | None = field(repr=False)


class Session:
    """One connection to the relay. Not thread-safe: each thread keeps its own."""

    def __init__(self, relay: Relay):
        self.relay = relay
        self.phase = Phase.CONNECT
        self.smtp: smtplib.SMTP | None = None
        self.pid = os.getpid()  # a connection must never cross a fork
        self.last_used = time.monotonic()

    def open(self) -> None:
        """Connect, secure and authenticate, asserting every reply."""
        relay = self.relay
        self.phase = Phase.CONNECT
        if relay.security == "implicit":
            self.smtp = smtplib.SMTP_SSL(relay.host, relay.port, relay.helo, timeout=relay.timeout,
                                         context=relay.tls)
        else:
            self.smtp = smtplib.SMTP(relay.host, relay.port, relay.helo, timeout=relay.timeout)
        self._ehlo()
        if relay.security == "starttls":
            self.phase = Phase.STARTTLS
            if not self.smtp.has_extn("starttls"):
                raise RefusedError(0, "the relay does not offer STARTTLS, and smtp:// never continues in clear text")
            self.smtp.starttls(context=relay.tls)
            self._ehlo()  # the capabilities seen before TLS must not be trusted
        if relay.user:
            self.phase = Phase.AUTH
            if not self.smtp.has_extn("auth"):
                raise RefusedError(0, "the relay does not offer AUTH")
            self.smtp.login(relay.user, relay.password)

    def send_message(self, content: bytes) -> tuple[int, bytes]:
        """DATA, the dot-stuffed message and the final dot; the final reply, read within the timeout."""
        self.phase = Phase.DATA
        expect(self.smtp.docmd("DATA"), 354)
        self.phase = Phase.BODY
        data = re.sub(rb"(?m)^\.", b"..", content)
        data += b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"
        for start in range(0, len(data), CHUNK_BYTES):
            self.smtp.send(data[start:start + CHUNK_BYTES])
        # The wait for this reply has the command timeout too (smtplib's socket timeout); its expiry is a 504.
        self.phase = Phase.FINAL
        try:
            return self.smtp.getreply()
        except smtplib.SMTPResponseException:  # smtplib's own "Line too long": a reply we cannot read
            return -1, b"a reply line too long to read"

    def close(self) -> None:
        """Drop the connection without a QUIT: it is broken, or too old to trust."""
        if self.smtp is not None:
            self.smtp.close()

    # A pooled connection goes with the thread that kept it (or with the adapter), not with the process.
    __del__ = close

    def _ehlo(self) -> None:
        self.phase = Phase.EHLO
        expect(self.smtp.ehlo(), 250)


def expect(reply: tuple[int, bytes], *codes: int) -> None:
    """Raise RefusedError unless the reply's code is one of `codes`."""
    if reply[0] not in codes:
        raise RefusedError(*reply)

