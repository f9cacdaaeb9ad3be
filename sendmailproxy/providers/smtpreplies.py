"""What an SMTP reply means, or the lack of one, by the phase of the session it came in.

Before the final dot nothing exists at the server; after it, only a reply we did not get or could not read
leaves the outcome unknown (RFC 1047). A 5xx about the caller's addresses is theirs to fix; one about our
right to send (enhanced status X.7, 530, a refused AUTH) is an operator's.
"""
from __future__ import annotations

import re
import smtplib

from sendmailproxy.providers.base import ACCEPTED, AMBIGUOUS, NOT_ACCEPTED, REJECTED, Outcome
from sendmailproxy.providers.reasons import one_line, truncate
from sendmailproxy.providers.smtpsession import Phase, RefusedError

POLICY_CODE = re.compile(r"^5\.7\.\d{1,3}\b")  # enhanced status X.7: security or policy (RFC 3463)
# Before MAIL: a reply here is about the session (a greeting, TLS, AUTH), never about this message.
SESSION_PHASES = (Phase.CONNECT, Phase.EHLO, Phase.STARTTLS, Phase.AUTH)


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
    text = one_line(text)
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


def recipients_refused(refusals: dict[str, RefusedError]) -> Outcome:
    """Rejected (422) when any refusal is permanent, so the caller must fix it; else not accepted."""
    listed = ", ".join(f"{address} ({r.code} {r.text})" for address, r in refusals.items())
    permanents = [r.code for r in refusals.values() if permanent(r.code, r.text)]
    first = next(iter(refusals.values()))
    kind, status = (REJECTED, permanents[0]) if permanents else (NOT_ACCEPTED, first.code)
    return Outcome(kind, truncate(f"recipients refused, nothing was sent: {listed}"), status=status)
