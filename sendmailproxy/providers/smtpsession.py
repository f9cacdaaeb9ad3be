"""One SMTP session driven command by command, so that every failure is known by the phase it stopped in.

smtplib's exceptions do not say which command was waiting (a timeout and a close are both
SMTPServerDisconnected, and SMTPDataError covers DATA and the final dot), so the session keeps `phase`
current and the outcome is decided from it: before the final dot nothing exists at the server; after
it, only a reply we did not get or could not read leaves the outcome unknown (RFC 1047).
"""
from __future__ import annotations

import enum
import os
import re
import smtplib
import ssl
import time
from dataclasses import dataclass, field

from sendmailproxy.providers.base import Outcome, OutcomeKind

ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS
REASON_LIMIT = 500
CHUNK_BYTES = 64 * 1024  # the body goes out in chunks, each with the command timeout (RFC 5321 4.5.3.2.5)
POLICY_CODE = re.compile(r"^5\.7\.\d{1,3}\b")  # enhanced status X.7: security or policy (RFC 3463)


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


SESSION_PHASES = (Phase.CONNECT, Phase.EHLO, Phase.STARTTLS, Phase.AUTH)


class RefusedError(Exception):
    """The server answered a command with a code that ends the transaction."""

    def __init__(self, code: int, text: bytes | str):
        super().__init__(code, text)
        self.code, self.text = code, _text(text)


class RecipientsRefusedError(Exception):
    """Some recipients were refused (and the transaction reset): the message was not sent to anyone."""

    def __init__(self, refusals: dict[str, RefusedError]):
        super().__init__(refusals)
        self.refusals = refusals

    def outcome(self) -> Outcome:
        """Rejected (422) when any refusal is permanent, so the caller must fix it; else not accepted."""
        listed = ", ".join(f"{address} ({r.code} {r.text})" for address, r in self.refusals.items())
        permanents = [r.code for r in self.refusals.values() if permanent(r.code, r.text)]
        first = next(iter(self.refusals.values()))
        kind, status = (REJECTED, permanents[0]) if permanents else (NOT_ACCEPTED, first.code)
        return Outcome(kind, truncate(f"recipients refused, nothing was sent: {listed}"), status=status)


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


def failed(phase: Phase, error: Exception) -> Outcome:
    """The outcome of a session that broke (no reply, an unreadable one, TLS or socket trouble) in `phase`."""
    timed_out = is_timeout(error)
    description = f"{type(error).__name__}: {error}"
    if phase is Phase.FINAL:
        label = "no reply to the final dot in time" if timed_out else "the connection broke before the final reply"
        return Outcome(AMBIGUOUS, truncate(f"{label}: {description}"), timed_out=timed_out)
    if isinstance(error, smtplib.SMTPResponseException) and phase in SESSION_PHASES:
        return refused(phase, error.smtp_code, error.smtp_error)  # a real reply: 535, a bad greeting
    return Outcome(NOT_ACCEPTED, truncate(f"nothing was sent: {phase.value} failed: {description}"))


def is_timeout(error: Exception) -> bool:
    """Whether a wait ran out; smtplib turns a read timeout into SMTPServerDisconnected, raised while handling it."""
    return isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError)


def refused(phase: Phase, code: int, text: bytes | str) -> Outcome:
    """The outcome of reply `code` to the command of `phase` (code 0: what we refused ourselves; -1: unreadable)."""
    text = _text(text)
    reply, status = (f"{code} {text}", code) if code > 0 else (text, None)
    if phase is Phase.FINAL:
        if 200 <= code <= 299:
            return Outcome(ACCEPTED, truncate(reply), status=status)
        kind = NOT_ACCEPTED if 400 <= code <= 499 else REJECTED if 500 <= code <= 599 else AMBIGUOUS
        label = "unreadable reply to the final dot" if kind is AMBIGUOUS else "the relay refused the message"
        return Outcome(kind, truncate(f"{label}: {reply}"), status=status)
    if phase in (Phase.MAIL, Phase.RCPT) and permanent(code, text):
        return Outcome(REJECTED, truncate(f"{phase.value} refused: {reply}"), status=status)
    credentials = phase is Phase.AUTH and code >= 500 or code == 530
    return Outcome(NOT_ACCEPTED, truncate(f"nothing was sent: {phase.value} refused: {reply}"), status=status,
                   operator_must_act=credentials)


def permanent(code: int, text: str) -> bool:
    """A 5xx about the caller's addresses, not about our right to send (X.7, 530): the caller must fix it."""
    return 500 <= code <= 599 and code != 530 and not POLICY_CODE.match(text)


def truncate(text: str) -> str:
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def _text(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(text.split())
