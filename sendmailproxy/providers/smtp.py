"""The SMTP adapter: any relay (Postfix, SES SMTP, a smarthost) through smtplib, one reused connection per thread."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import unquote, urlsplit

from sendmailproxy.envreader import EnvReader
from sendmailproxy.message import Message
from sendmailproxy.providers import mime
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider, ProviderOptions
from sendmailproxy.providers.reasons import redact
from sendmailproxy.providers.smtpreplies import failed, is_timeout, recipients_refused, refused
from sendmailproxy.providers.smtpsession import Phase, RecipientsRefusedError, RefusedError, Relay, Session, expect

log = logging.getLogger(__name__)

# URL scheme -> (how the connection is secured, default port).
SCHEMES = {"smtp": ("starttls", 587), "smtps": ("implicit", 465), "smtp+insecure": ("none", 25)}
# Below the idle timeouts of relays (RFC 5321 asks servers for at least 5 minutes; Postfix and aiosmtpd use 300 s).
IDLE_TTL_S = 60
# The waits of one send on a new connection, each within SMSP_PROVIDER_TIMEOUT: connect, greeting, EHLO, STARTTLS,
# EHLO again, AUTH, MAIL, a few RCPTs, DATA and the final reply. Its product is this adapter's max_send_seconds.
SEND_WAITS = 12
STALE = Outcome(OutcomeKind.NOT_ACCEPTED, "a pooled connection had gone stale")  # never leaves this module
TAG_HEADER = "X-Tag"  # one header per tag, as Mailgun's SMTP interface takes X-Mailgun-Tag
METADATA_HEADER = "X-Metadata"  # the metadata as one JSON object, as django-anymail writes it for SES


@dataclass(frozen=True)
class SmtpSettings:
    """`SMSP_SMTP_URL`, read into its parts, and `SMSP_SMTP_HELO`."""

    security: str = "starttls"
    host: str = ""
    port: int = 587
    user: str = ""
    password: str = field(default="", repr=False)
    helo: str = ""

    @classmethod
    def from_env(cls, env: EnvReader, required: bool) -> SmtpSettings:
        helo = env.text("SMSP_SMTP_HELO")
        url = env.required("SMSP_SMTP_URL", when=required)
        if not url:
            return cls(helo=helo)
        # Problems name the part that is wrong, never the URL: it may hold the password.
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        security, port = SCHEMES.get(scheme, ("starttls", 587))
        if scheme not in SCHEMES:
            env.problem(f"SMSP_SMTP_URL must start with smtp://, smtps:// or smtp+insecure://, not {scheme}://")
        if not parts.hostname:
            env.problem("SMSP_SMTP_URL has no host")
        try:
            port = parts.port or port
        except ValueError:
            env.problem("SMSP_SMTP_URL has an invalid port")
        if parts.password and not parts.username:
            env.problem("SMSP_SMTP_URL has a password but no user")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            env.problem("SMSP_SMTP_URL must be scheme://[user[:password]@]host[:port] with nothing after "
                        "(percent-encode / ? # @ : in the user and password)")
        return cls(security=security, host=parts.hostname or "", port=port, user=unquote(parts.username or ""),
                   password=unquote(parts.password or ""), helo=helo)


class SmtpProvider(Provider):
    """Sends through an SMTP relay; probes with MAIL and RCPT then RSET, which by protocol delivers nothing."""

    name = "smtp"
    Settings = SmtpSettings

    def __init__(self, settings: SmtpSettings, options: ProviderOptions):
        # Verified against the system store (or SSL_CERT_FILE): smtplib's own default verifies nothing.
        tls = ssl.create_default_context() if settings.security != "none" else None
        self._relay = Relay(settings.host, settings.port, settings.security, settings.user, settings.password,
                            settings.helo or socket.getfqdn(), options.timeout, tls)
        self._poll_address = options.poll_address
        self._pool = threading.local()  # this thread's idle connection: never shared, made after the fork
        self.max_send_seconds = SEND_WAITS * options.timeout
        if settings.security == "none":
            log.warning("SMSP_SMTP_URL is smtp+insecure: messages and credentials cross the network unencrypted",
                        extra={"provider": self.name})

    def __repr__(self) -> str:
        return f"SmtpProvider(host={self._relay.host!r}, port={self._relay.port}, security={self._relay.security!r})"

    def send(self, message: Message) -> Outcome:
        """Send a real message; its Message-ID is the id we answer with."""
        message_id = mime.new_message_id(message)
        content = mime.render(message, message_id=message_id, tag_header=TAG_HEADER,
                              metadata_header=METADATA_HEADER)
        recipients = envelope_recipients(message)

        def transaction(session: Session) -> Outcome:
            self._envelope(session, message.sender.email, recipients, len(content))
            code, text = session.send_message(content)
            return refused(Phase.FINAL, code, text)

        outcome = self._pooled(transaction)
        if outcome.kind is OutcomeKind.ACCEPTED:
            return dataclasses.replace(outcome, message_id=message_id)
        if outcome.kind is OutcomeKind.AMBIGUOUS:  # operators search the relay's logs for it
            return dataclasses.replace(outcome, reason=f"{outcome.reason} (Message-ID {message_id})")
        return outcome

    def probe(self) -> Outcome:
        """Connect, secure, authenticate, MAIL and RCPT the poll address, RSET, QUIT; never DATA."""
        session = Session(self._relay)

        def transaction(session: Session) -> Outcome:
            self._envelope(session, self._poll_address, [self._poll_address], None)
            session.phase = Phase.RSET
            expect(session.smtp.rset(), 250)
            session.phase = Phase.QUIT
            expect(session.smtp.quit(), 221)
            return Outcome(OutcomeKind.ACCEPTED, "MAIL, RCPT, RSET and QUIT accepted")

        outcome = self._attempt(session, transaction, reused=False)
        session.close()
        return outcome

    def _envelope(self, session: Session, sender: str, recipients: list[str], size: int | None) -> None:
        """MAIL and every RCPT; if any recipient is refused, RSET and raise, so no partial message goes out."""
        smtp = session.smtp
        session.phase = Phase.MAIL
        expect(smtp.mail(sender, [f"SIZE={size}"] if size and smtp.has_extn("size") else []), 250)
        session.phase = Phase.RCPT
        refusals = {}
        for recipient in recipients:
            code, text = smtp.rcpt(recipient)
            if code == 421:  # the relay is closing the session
                raise RefusedError(code, text)
            if code not in (250, 251):
                refusals[recipient] = RefusedError(code, text)
        if refusals:
            with contextlib.suppress(smtplib.SMTPException, OSError):  # the connection is dropped anyway
                smtp.rset()
            raise RecipientsRefusedError(refusals)

    def _pooled(self, transaction: Callable[[Session], Outcome]) -> Outcome:
        """Run `transaction` on this thread's connection (reconnecting once if it was stale); keep it if accepted."""
        session, reused = self._take()
        outcome = self._attempt(session, transaction, reused=reused)
        if outcome is STALE:
            session.close()
            session = Session(self._relay)
            outcome = self._attempt(session, transaction, reused=False)
        if outcome.kind is OutcomeKind.ACCEPTED:
            session.last_used = time.monotonic()
            self._pool.session = session
        else:
            session.close()  # after any error: never reuse a connection in an unknown state
        return outcome

    def _take(self) -> tuple[Session, bool]:
        """This thread's idle connection if it is young enough (and True), else a new, unopened one."""
        session, self._pool.session = getattr(self._pool, "session", None), None
        if session is not None:
            if session.pid == os.getpid() and time.monotonic() - session.last_used < IDLE_TTL_S:
                return session, True
            session.close()
        return Session(self._relay), False

    def _attempt(self, session: Session, transaction: Callable[[Session], Outcome], *, reused: bool) -> Outcome:
        """One try: open (or check a pooled connection with RSET), then the transaction, as one outcome."""
        try:
            if reused:
                session.phase = Phase.RSET
                expect(session.smtp.rset(), 250)
            else:
                session.open()
            outcome = transaction(session)
        except RecipientsRefusedError as refusal:
            outcome = recipients_refused(refusal.refusals)
        except RefusedError as refusal:
            # A pooled connection the relay closed meanwhile fails at RSET or MAIL, when provably nothing was sent.
            if reused and session.phase in (Phase.RSET, Phase.MAIL) and refusal.code == 421:
                return STALE
            outcome = refused(session.phase, refusal.code, refusal.text)
        except (smtplib.SMTPException, OSError) as error:  # SMTPException is an OSError; ssl errors are too
            if reused and session.phase in (Phase.RSET, Phase.MAIL) and not is_timeout(error):
                return STALE
            outcome = failed(session.phase, error)
        # A relay could echo the password back (in an AUTH error, say); it must never reach a log or a client.
        return redact(outcome, self._relay.password)


def envelope_recipients(message: Message) -> list[str]:
    """Every address the relay must deliver to: To, Cc and Bcc."""
    return [address.email for address in (*message.to, *message.cc, *message.bcc)]

