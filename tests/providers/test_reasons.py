"""Reasons from every adapter, HTTP and SMTP alike: at most REASON_LIMIT characters, a provider's words on one line."""
import pytest

from sendmailproxy.message import Address, Message
from sendmailproxy.providers import MailgunProvider, Outcome, OutcomeKind, PostmarkProvider, SendGridProvider, SesProvider
from sendmailproxy.providers.reasons import REASON_LIMIT, one_line, redact
from sendmailproxy.providers.smtpreplies import failed, refused
from sendmailproxy.providers.smtpsession import Phase
from tests.providers.conftest import adapter

URLS = {MailgunProvider: "https://api.mailgun.net/v3/mg.example.com/messages",
        SendGridProvider: "https://api.sendgrid.com/v3/mail/send",
        SesProvider: "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails",
        PostmarkProvider: "https://api.postmarkapp.com/email"}
MESSAGE = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t")
PAGE = "<html>\r\n  <body>" + "an error page " * 1000 + "</body>\n</html>"


@pytest.mark.parametrize("provider_class", list(URLS))
def test_a_whole_error_page_becomes_one_short_line(rsps, provider_class):
    rsps.post(URLS[provider_class], status=500, body=PAGE)

    reason = adapter(provider_class).send(MESSAGE).reason

    assert len(reason) == REASON_LIMIT and reason.endswith("…")
    assert "\n" not in reason and "  " not in reason and "<html> <body>an error page" in reason


@pytest.mark.parametrize("outcome", [refused(Phase.MAIL, 451, PAGE.encode()), refused(Phase.FINAL, 250, PAGE),
                                     failed(Phase.DATA, OSError(PAGE))], ids=["refused", "accepted", "broken"])
def test_an_smtp_reason_is_as_short(outcome):
    assert len(outcome.reason) == REASON_LIMIT and outcome.reason.endswith("…")


def test_one_line_reads_bytes_as_utf8_and_joins_lines():
    assert one_line(b"550 5.1.1 \xc3\xa9t\xc3\xa9\r\n  no\tsuch user \xff") == "550 5.1.1 été no such user \ufffd"


def test_redact_replaces_every_copy_of_the_secret_and_only_when_there_is_one():
    outcome = Outcome(OutcomeKind.NOT_ACCEPTED, "key s3cret refused (s3cret)", status=401)

    assert redact(outcome, "s3cret") == Outcome(OutcomeKind.NOT_ACCEPTED, "key [redacted] refused ([redacted])",
                                                status=401)
    assert redact(outcome, "") is outcome and redact(outcome, "other") is outcome
