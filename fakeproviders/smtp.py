"""An SMTP relay on loopback (aiosmtpd): STARTTLS, implicit TLS or none, AUTH, and every transaction recorded.

Delivered messages are recorded with their raw bytes and envelope; a transaction that ends without DATA
(MAIL and RCPT, then RSET, QUIT or a closed connection) is recorded as a probe.
"""

import base64
import email.policy
import itertools
import json
import os
import ssl
import tempfile
import warnings
from email.parser import BytesParser
from urllib.parse import quote, urlsplit

from .records import attachment_info, new_record
from .server import ProtocolListener, ProviderEndpoint, url
from .smtp_faults import SmtpFault
from .smtp_server import FakeSmtp, authenticator
from .tls import fake_ca

NAME = "smtp"
SCHEMES = {"starttls": "smtp", "implicit": "smtps", "none": "smtp+insecure"}  # --smtp-tls -> URL scheme
TAG_HEADER = "X-Tag"  # the adapter's: sendmailproxy/providers/smtp.py
METADATA_HEADER = "X-Metadata"  # the adapter's: one JSON object, folded after each entry
_sequence = itertools.count(1)

# Implicit TLS encrypts before the greeting, but aiosmtpd only counts STARTTLS as TLS when it warns.
warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")


class SmtpApi:
    """One relay account, secured as --smtp-tls says with a throwaway CA (trustme) made at start."""

    name = NAME
    # --smtp-ca-file: where to write the CA certificate; empty: a temporary file, reported on the start line.
    OPTIONS = {"smtp_user": "smtp-user", "smtp_password": "smtp-password", "smtp_tls": "starttls",
               "smtp_ca_file": ""}

    def __init__(self, user: str, password: str, security: str, ca_file: str):
        if security not in SCHEMES:
            raise SystemExit(f"fakeproviders: --smtp-tls must be one of {', '.join(SCHEMES)}")
        self.user, self.password, self.security = user, password, security
        ca = fake_ca()  # shared with the SNS certificate host (fakeproviders/sns.py)
        self.server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(self.server_tls)
        if not ca_file:
            self._scratch = tempfile.TemporaryDirectory(prefix="fakeproviders-smtp-")  # removed at exit
            ca_file = os.path.join(self._scratch.name, "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        self.ca_file = ca_file

    @classmethod
    def from_options(cls, options: dict) -> "SmtpApi":
        return cls(options["smtp_user"], options["smtp_password"], options["smtp_tls"], options["smtp_ca_file"])

    @staticmethod
    def send_path(options: dict) -> str:
        return ""

    @staticmethod
    def service_env(address: str, options: dict) -> dict[str, str]:
        """SMSP_SMTP_URL with the fake's credentials, and SSL_CERT_FILE so that the service trusts its CA."""
        credentials = f"{quote(options['smtp_user'], safe='')}:{quote(options['smtp_password'], safe='')}"
        env = {"SMSP_SMTP_URL": f"{SCHEMES[options['smtp_tls']]}://{credentials}@{urlsplit(address).netloc}"}
        if options["smtp_ca_file"]:
            env["SSL_CERT_FILE"] = options["smtp_ca_file"]
        return env

    def endpoint(self, store, host: str, port: int) -> "SmtpEndpoint":
        return SmtpEndpoint(self, store, host, port)


class SmtpEndpoint(ProviderEndpoint):
    """The relay's listener, with the fault in force and the records, as the control API drives them."""

    def __init__(self, api: SmtpApi, store, host: str, port: int):
        self.api, self.store = api, store
        self.fault = SmtpFault()
        self.authenticate = authenticator(self, api.user, api.password)
        tls = {"starttls": {"tls_context": api.server_tls, "require_starttls": True},
               "implicit": {"auth_require_tls": False}, "none": {"auth_require_tls": False}}[api.security]
        self.listener = ProtocolListener(host, port, lambda listener: FakeSmtp(self, listener, **tls),
                                         api.server_tls if api.security == "implicit" else None)
        self.chosen_options = {"smtp_ca_file": api.ca_file}

    @property
    def url(self) -> str:
        return url(SCHEMES[self.api.security], self.listener.host, self.listener.port)

    def parse_fault(self, params: dict) -> SmtpFault:
        return SmtpFault.parse(params)

    async def set_fault(self, fault: SmtpFault) -> None:
        await super().set_fault(fault)
        if fault.mode == "greeting" or fault.refuses("auth"):
            # A relay out of service, or credentials revoked: no session opened before goes on either.
            self.listener.drop_connections()

    def record(self, envelope, content: bytes | None) -> dict:
        """Keep a delivered message (content) or a probe (None), in the shape the HTTP fakes record."""
        number = next(_sequence)
        if content is None:
            record = new_record(NAME, id=f"probe-{number}", probe=True, sender=envelope.mail_from,
                                to=list(envelope.rcpt_tos), cc=[], bcc=[], subject=None, text=None, html=None,
                                reply_to=None, headers={}, tags=[], attachments=[], variables={})
        else:
            record = _message_record(envelope, content)
        record.update(queue_id=f"Q{number:08d}", raw=base64.b64encode(content or b"").decode(),
                      envelope={"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)})
        self.store.add(record)
        return record


def _message_record(envelope, content: bytes) -> dict:
    message = BytesParser(policy=email.policy.default).parsebytes(content)
    listed = {address.addr_spec.lower() for name in ("To", "Cc") for header in message.get_all(name, [])
              for address in header.addresses}

    def mailboxes(name):
        return [str(address) for header in message.get_all(name, []) for address in header.addresses]

    def body(subtype):
        # As the caller wrote it, for the same record as the HTTP fakes: lines end in LF, the last one bare.
        part = message.get_body((subtype,))
        return "\n".join(part.get_content().splitlines()) if part is not None else None

    return new_record(
        NAME, id=message["Message-ID"], probe=False, sender=str(message["From"]), to=mailboxes("To"),
        cc=mailboxes("Cc"), bcc=[r for r in envelope.rcpt_tos if r.lower() not in listed],
        subject=message["Subject"], text=body("plain"), html=body("html"),
        reply_to=str(message["Reply-To"]) if message["Reply-To"] else None,
        headers={name: str(value) for name, value in message.items()
                 if name.lower().startswith("x-") and name.lower() not in (TAG_HEADER.lower(), METADATA_HEADER.lower())},
        tags=[str(tag) for tag in message.get_all(TAG_HEADER, [])],
        attachments=[attachment_info(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
                     for part in message.iter_attachments()],
        variables=_metadata(message),
    )


def _metadata(message) -> dict:
    """The X-Metadata header's JSON, read from its raw text unfolded (decoding it as RFC 2047 words could alter
    a value that looks like one)."""
    raw = next((value for name, value in message.raw_items() if name.lower() == METADATA_HEADER.lower()), None)
    return {} if raw is None else json.loads(raw.replace("\r\n", "").replace("\n", ""))
