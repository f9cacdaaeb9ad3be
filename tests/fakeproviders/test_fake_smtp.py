"""The fake SMTP relay against what a real one does: TLS and AUTH required, replies, records, faults."""

import base64
import os
import smtplib
import ssl
from urllib.parse import urlsplit

import pytest

from fakeproviders.client import FakeProvidersError, run_fake_providers
from sendmailproxy.providers.mime import render
from sendmailproxy.providers.smtp import METADATA_HEADER, TAG_HEADER
from testkit.polling import wait_until
from tests.providers.conftest import MESSAGES

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess

RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: raw\r\nX-Tag: t1\r\n\r\n.leading dot\r\nbye\r\n"


@pytest.fixture
def connect(fake):
    """An smtplib client on the fake relay, trusting its CA; secured and logged in unless told otherwise."""
    clients = []

    def open_client(secure=True, login=True) -> smtplib.SMTP:
        address = urlsplit(fake.urls["smtp"])
        client = smtplib.SMTP(address.hostname, address.port, timeout=5)
        clients.append(client)
        if secure:
            client.starttls(context=ssl.create_default_context(cafile=fake.options["smtp_ca_file"]))
        if login:
            client.login(fake.options["smtp_user"], fake.options["smtp_password"])
        return client

    yield open_client
    for client in clients:
        client.close()


def test_start_line_names_the_ca_file_and_the_service_env_trusts_it(fake):
    assert os.path.isfile(fake.options["smtp_ca_file"])
    assert fake.service_env()["SSL_CERT_FILE"] == fake.options["smtp_ca_file"]
    assert fake.service_env()["SMSP_SMTP_URL"] == (
        f"smtp://smtp-user:smtp-password@{urlsplit(fake.urls['smtp']).netloc}")


def test_the_temporary_ca_file_goes_with_the_fake():
    with run_fake_providers() as running:
        ca_file = running.options["smtp_ca_file"]
        assert os.path.isfile(ca_file)
    assert not os.path.exists(ca_file)


def test_starttls_then_auth_are_required_before_mail(connect):
    plain = connect(secure=False, login=False)
    assert plain.mail("a@example.com")[0] == 530
    assert not plain.has_extn("auth")  # no credentials over clear text
    secured = connect(login=False)
    secured.ehlo()
    assert secured.mail("a@example.com")[0] == 530


def test_wrong_password_gets_535(connect):
    client = connect(login=False)
    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        client.login("smtp-user", "wrong")
    assert raised.value.smtp_code == 535


def test_delivered_message_is_recorded_with_raw_bytes_and_envelope(fake, connect):
    refused = connect().sendmail("a@example.com", ["b@example.com", "hidden@example.com"], RAW)

    assert refused == {}
    [record] = fake.control.messages("smtp")
    assert base64.b64decode(record["raw"]) == RAW
    assert record["envelope"] == {"mail_from": "a@example.com", "rcpt_tos": ["b@example.com", "hidden@example.com"]}
    assert (record["to"], record["bcc"], record["tags"], record["text"]) == (
        ["b@example.com"], ["hidden@example.com"], ["t1"], ".leading dot\nbye")
    assert fake.control.stats()["smtp"]["by_status"] == {"250": 1}


@pytest.mark.parametrize("end", ["rset", "quit", "close"])
def test_transaction_ended_without_data_is_a_probe(fake, connect, end):
    client = connect()
    client.mail("probe@example.com")
    client.rcpt("probe@example.com")
    getattr(client, end)()

    # A plain close reaches the relay after the client returns: wait for it.
    [probe] = wait_until(lambda: fake.control.messages("smtp", probes=None), "the probe record", 5)
    assert probe["probe"] and probe["envelope"]["rcpt_tos"] == ["probe@example.com"]
    assert fake.control.stats()["smtp"]["requests"] == 0


def test_refused_auth_is_the_faults_reply_even_for_the_right_password(fake, connect):
    fake.control.set_fault("smtp", "refuse", at="auth", status=535, text="5.7.8 Credentials revoked")

    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        connect()
    assert (raised.value.smtp_code, raised.value.smtp_error) == (535, b"5.7.8 Credentials revoked")


@pytest.mark.parametrize("fault", [{"mode": "greeting", "status": 421}, {"mode": "refuse", "at": "auth", "status": 535}])
def test_greeting_and_auth_faults_end_the_sessions_already_open(fake, connect, fault):
    client = connect()
    fake.control.set_fault("smtp", **fault)

    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_refused_data_is_not_a_probe(fake, connect):
    fake.control.set_fault("smtp", "refuse", at="data", status=451)
    client = connect()
    with pytest.raises(smtplib.SMTPDataError):
        client.sendmail("a@example.com", ["b@example.com"], RAW)
    client.rset()

    assert fake.control.messages(probes=None) == []


@pytest.mark.parametrize("params, error", [
    ({"mode": "nope"}, "mode must be one of"),
    ({"mode": "refuse", "at": "mail"}, "status must be an integer from 400 to 599"),
    ({"mode": "refuse", "at": "mail", "status": 250}, "status must be an integer from 400 to 599"),
    ({"mode": "refuse", "at": "helo", "status": 550}, "at must be one of auth, mail, rcpt, data, final"),
    ({"mode": "refuse", "at": "mail", "status": 550, "recipients": ["x@example.com"]}, "for at=rcpt only"),
    ({"mode": "refuse", "at": "mail", "status": 550, "text": "two\r\nlines"}, "one line"),
    ({"mode": "hang", "status": 550}, "mode hang takes no status"),
    ({"mode": "ok", "latency_ms": -1}, "latency_ms must be a number >= 0"),
])
def test_bad_faults_are_refused(fake, params, error):
    with pytest.raises(FakeProvidersError, match=error):
        fake.control.set_fault("smtp", **params)
    assert fake.control.faults()["smtp"] == {"mode": "ok", "latency_ms": 0}


def test_the_adapters_metadata_header_is_recorded_as_the_messages_variables(fake, connect):
    message = MESSAGES["metadata"]
    content = render(message, message_id="<1@example.com>", tag_header=TAG_HEADER, metadata_header=METADATA_HEADER)

    connect().sendmail(message.sender.email, [a.email for a in message.to], content)

    [record] = fake.control.messages("smtp")
    assert (record["tags"], record["variables"], record["headers"]) == (["welcome"], dict(message.metadata), {})
