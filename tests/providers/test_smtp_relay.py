"""SMTP adapter against a real SMTP server (the aiosmtpd fake): the outcome of every phase and fault, TLS,
connection reuse and the no-DATA probe."""
import base64
import contextlib
import dataclasses
import threading

import pytest
import trustme

from fakeproviders.client import run_fake_providers
from sendmailproxy.envreader import EnvReader
from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers import OutcomeKind, SmtpProvider
from sendmailproxy.providers.smtp import SmtpSettings
from sendmailproxy.providers import smtp as smtp_module
from tests.providers.conftest import MESSAGES, OPTIONS

pytestmark = pytest.mark.functional  # starts the fake relay as a subprocess

ACCEPTED, REJECTED = OutcomeKind.ACCEPTED, OutcomeKind.REJECTED
NOT_ACCEPTED, AMBIGUOUS = OutcomeKind.NOT_ACCEPTED, OutcomeKind.AMBIGUOUS
TIMEOUT = 0.5
MESSAGE = MESSAGES["many_recipients"]  # ann, bob and carol


@pytest.fixture(scope="module")
def started_relays():
    """One fake per TLS mode, started when first asked for."""
    with contextlib.ExitStack() as stack:
        started = {}

        def relay(security):
            if security not in started:
                started[security] = stack.enter_context(run_fake_providers(smtp_tls=security))
            return started[security]

        yield relay


@pytest.fixture
def relays(started_relays):
    """The fake relay for a TLS mode, with no fault and no records left by an earlier test."""
    def relay(security="starttls"):
        fake = started_relays(security)
        fake.control.reset_faults()
        fake.control.clear()
        return fake

    return relay


@pytest.fixture
def relay(relays):
    return relays()


@pytest.fixture
def provider_for(monkeypatch):
    """An adapter pointed at a fake (trusting its CA unless told otherwise), with SMSP_SMTP_* overrides."""
    def build(fake, ca_file=None, **env) -> SmtpProvider:
        service = fake.service_env()
        monkeypatch.setenv("SSL_CERT_FILE", ca_file or service["SSL_CERT_FILE"])
        reader = EnvReader({"SMSP_SMTP_URL": service["SMSP_SMTP_URL"], **env})
        settings = SmtpSettings.from_env(reader, required=True)
        assert reader.problems == []
        return SmtpProvider(settings, dataclasses.replace(OPTIONS, timeout=TIMEOUT))

    return build


@pytest.fixture
def provider(relay, provider_for):
    return provider_for(relay)


def delivered(fake) -> list[dict]:
    return fake.control.messages(provider="smtp", probes=False)


def smtp_stats(fake) -> dict:
    return fake.control.stats()["smtp"]


# (fault, expected kind, text the reason must hold, whether the fake then holds the message).
FAULTS = [
    ({"mode": "stopped"}, NOT_ACCEPTED, "ConnectionRefusedError", False),
    ({"mode": "greeting", "status": 421}, NOT_ACCEPTED, "connect refused: 421", False),
    ({"mode": "greeting", "status": 554}, NOT_ACCEPTED, "connect refused: 554", False),
    ({"mode": "refuse", "at": "mail", "status": 451}, NOT_ACCEPTED, "MAIL FROM refused: 451", False),
    ({"mode": "refuse", "at": "mail", "status": 553, "text": "5.1.8 Bad sender address"}, REJECTED,
     "MAIL FROM refused: 553 5.1.8", False),
    ({"mode": "refuse", "at": "mail", "status": 550, "text": "5.7.1 Sender not allowed"}, NOT_ACCEPTED,
     "550 5.7.1", False),
    ({"mode": "refuse", "at": "rcpt", "status": 550, "text": "5.1.1 No such user"}, REJECTED,
     "ann@example.com (550 5.1.1 No such user), bob@example.com (550", False),
    ({"mode": "refuse", "at": "rcpt", "status": 452}, NOT_ACCEPTED, "recipients refused", False),
    ({"mode": "refuse", "at": "rcpt", "status": 550, "text": "5.7.1 Relaying denied"}, NOT_ACCEPTED,
     "Relaying denied", False),
    ({"mode": "refuse", "at": "rcpt", "status": 421}, NOT_ACCEPTED, "RCPT TO refused: 421", False),
    ({"mode": "refuse", "at": "data", "status": 451}, NOT_ACCEPTED, "DATA refused: 451", False),
    ({"mode": "refuse", "at": "data", "status": 554}, NOT_ACCEPTED, "DATA refused: 554", False),
    ({"mode": "refuse", "at": "final", "status": 451}, NOT_ACCEPTED, "refused the message: 451", False),
    ({"mode": "refuse", "at": "final", "status": 552, "text": "5.3.4 Message too big"}, REJECTED, "552 5.3.4", False),
    ({"mode": "lost"}, AMBIGUOUS, "broke before the final reply", True),
    ({"mode": "garbled"}, AMBIGUOUS, "unreadable reply", False),
    ({"mode": "hang"}, AMBIGUOUS, "no reply to the final dot in time", False),
    ({"mode": "ok", "latency_ms": 2000 * TIMEOUT}, AMBIGUOUS, "no reply to the final dot in time", False),
    # Told 354, the client sends the whole (small) message into its socket before it can learn that the
    # server dropped it: having sent the final dot, it cannot know.
    ({"mode": "drop_in_data"}, AMBIGUOUS, "broke before the final reply", False),
    ({"mode": "ok", "latency_ms": 200 * TIMEOUT}, ACCEPTED, "250 2.0.0 Ok: queued as", True),
]


@pytest.mark.parametrize("fault, kind, reason, kept", FAULTS, ids=[
    "-".join(str(v) for k, v in f.items() if k != "text") for f, *_ in FAULTS])
def test_each_phase_and_fault_ends_in_its_outcome(relay, provider, fault, kind, reason, kept):
    relay.control.set_fault("smtp", **fault)

    outcome = provider.send(MESSAGE)

    assert outcome.kind is kind
    assert reason in outcome.reason
    assert outcome.timed_out == ("in time" in reason)
    assert (outcome.message_id is not None) == (kind is ACCEPTED)
    records = delivered(relay)
    assert len(records) == kept
    if kind is AMBIGUOUS:  # operators find the message in the relay's logs by its id
        assert f"(Message-ID {records[0]['id'] if kept else '<'}" in outcome.reason
    if kept and kind is ACCEPTED:
        assert records[0]["id"] == outcome.message_id


def test_accepted_message_reaches_the_relay_whole_with_bcc_only_in_the_envelope(relay, provider):
    message = MESSAGES["everything"]

    outcome = provider.send(message)

    [record] = delivered(relay)
    assert outcome.kind is ACCEPTED and record["id"] == outcome.message_id
    assert record["envelope"] == {"mail_from": "news@example.com", "rcpt_tos": [
        "ann@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]}
    assert record["bcc"] == ["dave@example.com"] and b"dave@" not in base64.b64decode(record["raw"])
    assert (record["subject"], record["tags"], record["headers"]) == ("Everything ✓", ["welcome", "digest"],
                                                                      {"X-Campaign": "all"})
    assert [a["filename"] for a in record["attachments"]] == ["report.pdf", "résumé notes ✓.txt"]


def test_some_recipients_refused_sends_nothing_and_names_only_them(relay, provider):
    relay.control.set_fault("smtp", "refuse", at="rcpt", status=550, text="5.1.1 No such user",
                            recipients=["bob@example.com"])

    outcome = provider.send(MESSAGE)

    assert outcome.kind is REJECTED
    assert outcome.reason == "recipients refused, nothing was sent: bob@example.com (550 5.1.1 No such user)"
    assert delivered(relay) == [] and smtp_stats(relay)["requests"] == 0  # the relay never saw DATA


def test_message_lost_while_being_sent_is_provably_not_accepted(relay, provider):
    # Too big to fit in the socket buffers: the send fails before the final dot is out, so nothing exists.
    relay.control.set_fault("smtp", "drop_in_data")
    big = Attachment("big.bin", "application/octet-stream", bytes(16 * 1024 * 1024))
    message = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t",
                      attachments=(big,))

    outcome = provider.send(message)

    assert outcome.kind is NOT_ACCEPTED and "nothing was sent: message failed" in outcome.reason


def test_wrong_password_needs_an_operator_and_is_never_shown(relay, provider_for):
    provider = provider_for(relay, SMSP_SMTP_URL=relay.service_env()["SMSP_SMTP_URL"].replace(
        "smtp-password", "wrong-s3cret"))
    relay.control.set_fault("smtp", "refuse", at="mail", status=550, text="5.0.0 not you, wrong-s3cret")

    outcome = provider.send(MESSAGE)

    assert outcome.kind is NOT_ACCEPTED and outcome.status == 535 and outcome.needs_an_operator
    assert "wrong-s3cret" not in outcome.reason


def test_relay_echoing_the_password_is_redacted(relay, provider):
    relay.control.set_fault("smtp", "refuse", at="mail", status=451, text="4.0.0 smtp-password is nice")

    assert provider.send(MESSAGE).reason.endswith("451 4.0.0 [redacted] is nice")


@pytest.mark.parametrize("security", ["starttls", "implicit"])
def test_tls_certificate_is_verified_against_ssl_cert_file(relays, provider_for, tmp_path, security):
    fake = relays(security)
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))

    refused = provider_for(fake, ca_file=str(stranger)).send(MESSAGE)
    accepted = provider_for(fake).send(MESSAGE)

    assert refused.kind is NOT_ACCEPTED and "CERTIFICATE_VERIFY_FAILED" in refused.reason
    assert accepted.kind is ACCEPTED


def test_smtp_url_never_continues_in_clear_text_without_starttls(relays, provider_for):
    plain = relays("none")  # a relay that offers no STARTTLS
    url = plain.service_env()["SMSP_SMTP_URL"].replace("smtp+insecure://", "smtp://")

    outcome = provider_for(plain, SMSP_SMTP_URL=url).send(MESSAGE)

    assert outcome.kind is NOT_ACCEPTED and "does not offer STARTTLS" in outcome.reason
    assert plain.control.messages(probes=None) == []


def test_insecure_relay_takes_mail_in_clear_text(relays, provider_for):
    assert provider_for(relays("none")).send(MESSAGE).kind is ACCEPTED


def test_one_connection_per_thread_reused_across_messages(relay, provider):
    def five():
        for _ in range(5):
            assert provider.send(MESSAGE).kind is ACCEPTED

    threads = [threading.Thread(target=five) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert smtp_stats(relay)["connections"] == 3 and len(delivered(relay)) == 15


def test_idle_connection_past_its_ttl_is_not_reused(relay, provider, monkeypatch):
    monkeypatch.setattr(smtp_module, "IDLE_TTL_S", 0)
    for _ in range(3):
        provider.send(MESSAGE)

    assert smtp_stats(relay)["connections"] == 3


def test_connection_is_dropped_after_an_error(relay, provider):
    provider.send(MESSAGE)
    relay.control.set_fault("smtp", "refuse", at="final", status=554)
    provider.send(MESSAGE)
    relay.control.reset_faults()
    provider.send(MESSAGE)

    assert smtp_stats(relay)["connections"] == 2


def test_stale_pooled_connection_is_replaced_without_a_failure(relay, provider):
    assert provider.send(MESSAGE).kind is ACCEPTED
    relay.control.set_fault("smtp", "stopped")  # closes every open connection, as a relay's idle timeout would
    relay.control.reset_faults()

    assert provider.send(MESSAGE).kind is ACCEPTED
    assert smtp_stats(relay)["connections"] == 2 and len(delivered(relay)) == 2


def test_failure_at_mail_on_a_pooled_connection_reconnects_once(relay, provider):
    provider.send(MESSAGE)
    relay.control.set_fault("smtp", "refuse", at="mail", status=421)

    outcome = provider.send(MESSAGE)

    assert outcome.kind is NOT_ACCEPTED
    assert smtp_stats(relay)["connections"] == 2  # the pooled one, then exactly one fresh one


def test_probe_never_sends_data_and_asserts_every_reply(relay, provider):
    outcome = provider.probe()

    assert outcome.kind is ACCEPTED
    [probe] = relay.control.messages(provider="smtp", probes=True)
    assert probe["envelope"] == {"mail_from": "probe@example.com", "rcpt_tos": ["probe@example.com"]}
    assert delivered(relay) == [] and smtp_stats(relay)["requests"] == 0


@pytest.mark.parametrize("fault, kind", [
    ({"mode": "stopped"}, NOT_ACCEPTED),
    ({"mode": "greeting", "status": 421}, NOT_ACCEPTED),
    ({"mode": "refuse", "at": "mail", "status": 451}, NOT_ACCEPTED),
    ({"mode": "refuse", "at": "rcpt", "status": 550, "text": "5.1.1 No such user"}, REJECTED),
    ({"mode": "refuse", "at": "rcpt", "status": 550, "text": "5.7.1 Relaying denied"}, NOT_ACCEPTED),
])
def test_probe_fails_where_a_send_would(relay, provider, fault, kind):
    relay.control.set_fault("smtp", **fault)

    assert provider.probe().kind is kind
    assert smtp_stats(relay)["requests"] == 0
