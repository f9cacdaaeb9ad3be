"""SMTP adapter: the MIME built for every message in the table (read back with the email parser), SMSP_SMTP_URL."""
import email.policy
import json
import logging
import re
from email.parser import BytesParser

import pytest

from sendmailproxy.config import Config, ConfigError
from sendmailproxy.envreader import EnvReader
from sendmailproxy.providers import SmtpProvider
from sendmailproxy.providers.mime import new_message_id, render
from sendmailproxy.providers.smtp import METADATA_HEADER, TAG_HEADER, SmtpSettings, envelope_recipients
from tests.providers.conftest import OPTIONS

COMMON = {"SMSP_API_KEY": "k", "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com", "SMSP_PROVIDERS": "smtp"}
MESSAGE_ID = "<1.2.3@example.com>"

# The MIME tree each message of the table must become.
STRUCTURE = {
    "single": ["text/plain"],
    "many_recipients": ["text/plain"],
    "cc_bcc": ["text/plain"],
    "html_only": ["text/html"],
    "text_and_html": ["multipart/alternative", "text/plain", "text/html"],
    "reply_to": ["text/plain"],
    "display_names": ["text/plain"],
    "custom_headers": ["text/plain"],
    "tags": ["text/plain"],
    "metadata": ["text/plain"],
    "attachments": ["multipart/mixed", "text/plain", "application/pdf", "text/plain"],
    "unicode": ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/plain"],
    "everything": ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf",
                   "text/plain"],
}


def smtp_settings(url: str, **env) -> SmtpSettings:
    """The adapter's settings read from SMSP_SMTP_URL and `env`, which must hold no problem."""
    reader = EnvReader({"SMSP_SMTP_URL": url, **env})
    settings = SmtpSettings.from_env(reader, required=True)
    assert reader.problems == []
    return settings


def mime_of(message) -> bytes:
    """The message as the adapter hands it to the relay."""
    return render(message, message_id=MESSAGE_ID, tag_header=TAG_HEADER, metadata_header=METADATA_HEADER)


def parsed(raw: bytes):
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def lines(body) -> list[str] | None:
    """A body's lines (a str or a MIME part): mail is line-oriented, sent with CRLF and a final line end."""
    if body is not None and not isinstance(body, str):
        body = body.get_content()
    return None if body is None else body.splitlines()


def content_type(value) -> tuple[str, dict]:
    """A Content-Type (header or text) as its type and parameters."""
    header = email.policy.default.header_factory("Content-Type", str(value))
    return header.content_type, dict(header.params)


def mailboxes(header) -> list[tuple[str, str]]:
    return [(a.display_name, a.addr_spec) for a in header.addresses] if header else []


def metadata_of(mime) -> dict:
    """X-Metadata's JSON, from the header's raw text unfolded, as a reader of the relayed mail gets it."""
    raw = [value for name, value in mime.raw_items() if name == "X-Metadata"]
    assert len(raw) <= 1
    return json.loads(re.sub(r"\r?\n", "", raw[0])) if raw else {}


def test_mime_carries_exactly_the_message(case, message):
    mime = parsed(mime_of(message))

    assert [part.get_content_type() for part in mime.walk()] == STRUCTURE[case]
    assert mime["Message-ID"] == MESSAGE_ID
    assert mime["Subject"] == message.subject
    assert mailboxes(mime["From"]) == [(message.sender.name, message.sender.email)]
    assert mailboxes(mime["To"]) == [(a.name, a.email) for a in message.to]
    assert mailboxes(mime["Cc"]) == [(a.name, a.email) for a in message.cc]
    reply_to = [(message.reply_to.name, message.reply_to.email)] if message.reply_to else []
    assert mailboxes(mime["Reply-To"]) == reply_to
    assert lines(mime.get_body(("plain",))) == lines(message.text)
    assert lines(mime.get_body(("html",))) == lines(message.html)
    assert [(p.get_filename(), content_type(p["Content-Type"]), p.get_payload(decode=True))
            for p in mime.iter_attachments()] == [(a.filename, content_type(a.content_type), a.content)
                                                  for a in message.attachments]
    assert [(name, str(value)) for name, value in mime.items()
            if name.startswith("X-") and name not in ("X-Tag", "X-Metadata")] == list(message.headers)
    assert mime.get_all("X-Tag", []) == list(message.tags)
    assert metadata_of(mime) == dict(message.metadata)


def test_bcc_is_only_in_the_envelope(case, message):
    raw = mime_of(message)

    assert "Bcc" not in parsed(raw)
    assert all(a.email.encode() not in raw for a in message.bcc)
    assert envelope_recipients(message) == [a.email for a in (*message.to, *message.cc, *message.bcc)]


def test_mime_is_7bit_with_crlf_line_ends(case, message):
    # Any relay takes it: no 8BITMIME or SMTPUTF8 needed, no bare LF, no line over RFC 5322's 998.
    raw = mime_of(message)

    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_message_id_is_in_the_senders_domain_and_new_each_time(message):
    first, second = new_message_id(message), new_message_id(message)

    assert re.fullmatch(rf"<[^<>@\s]+@{re.escape(message.sender.email.split('@')[1])}>", first)
    assert first != second


@pytest.mark.parametrize("url, expected", [
    ("smtp://relay.example.com", SmtpSettings("starttls", "relay.example.com", 587)),
    ("smtps://relay.example.com", SmtpSettings("implicit", "relay.example.com", 465)),
    ("smtp+insecure://localhost", SmtpSettings("none", "localhost", 25)),
    ("SMTP://relay.example.com:2587", SmtpSettings("starttls", "relay.example.com", 2587)),
    ("smtps://AKIA123:s3cr%2Ft%40%3A@email-smtp.eu-west-1.amazonaws.com:2465/",
     SmtpSettings("implicit", "email-smtp.eu-west-1.amazonaws.com", 2465, "AKIA123", "s3cr/t@:")),
    ("smtp://postmaster%40mg.example.com:pw@[::1]:2525", SmtpSettings("starttls", "::1", 2525,
                                                                        "postmaster@mg.example.com", "pw")),
    ("smtp://token@relay.example.com", SmtpSettings("starttls", "relay.example.com", 587, "token")),
])
def test_url_gives_security_host_port_and_decoded_credentials(url, expected):
    assert smtp_settings(url) == expected


def test_helo_name_is_read():
    assert smtp_settings("smtp://h", SMSP_SMTP_HELO="mta.example.com").helo == "mta.example.com"


@pytest.mark.parametrize("url, problem", [
    ("http://relay.example.com", "must start with smtp://, smtps:// or smtp+insecure://, not http://"),
    ("smtp://", "has no host"),
    ("smtp://user:s3cret@", "has no host"),
    ("smtp://:s3cret@relay.example.com", "has a password but no user"),
    ("smtp://relay.example.com:99999", "has an invalid port"),
    ("smtp://relay.example.com?tls=none", "with nothing after"),
    ("smtp://user:s3/cret@relay.example.com", "with nothing after"),
])
def test_bad_url_is_reported_with_every_other_problem_and_never_echoes_the_password(url, problem):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**COMMON, "SMSP_SMTP_URL": url, "SMSP_POLL_INTERVAL": "soon"})

    assert problem in str(raised.value)
    assert "SMSP_POLL_INTERVAL" in str(raised.value)
    assert "s3cret" not in str(raised.value) and "cret" not in str(raised.value)


def test_settings_repr_hides_the_password():
    assert "hunter2" not in repr(smtp_settings("smtp://u:hunter2@h"))


def test_insecure_relay_is_a_warning_at_start_and_nothing_else_is(caplog):
    caplog.set_level(logging.WARNING)
    SmtpProvider(smtp_settings("smtp://u:p@h"), OPTIONS)
    assert caplog.records == []

    SmtpProvider(smtp_settings("smtp+insecure://u:p@localhost"), OPTIONS)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "unencrypted" in record.getMessage()


def test_repr_names_the_relay_not_the_credentials():
    provider = SmtpProvider(smtp_settings("smtps://user:hunter2@relay.example.com"), OPTIONS)

    assert repr(provider) == "SmtpProvider(host='relay.example.com', port=465, security='implicit')"
