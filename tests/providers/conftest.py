"""Fixtures for the provider adapters: their settings and options, a hermetic environment, the messages to send."""
import dataclasses
import os

import pytest
import responses

from sendmailproxy.message import Address, Attachment, Message
from sendmailproxy.providers import Provider, ProviderOptions
from sendmailproxy.providers.mailgun import MailgunSettings
from sendmailproxy.providers.postmark import PostmarkSettings
from sendmailproxy.providers.sendgrid import SendGridSettings
from sendmailproxy.providers.ses import SesSettings

AWS_KEY_ID, AWS_SECRET = "AKIAEXAMPLE000000001", "aws-SECRET-wJalrXUtnFEMI-K7MDENG"
# Every real HTTP adapter's settings, and the options a worker with 4 threads gives each adapter.
SETTINGS = {
    "mailgun": MailgunSettings(domain="mg.example.com", api_key="key-mg-SECRET-0123456789"),
    "sendgrid": SendGridSettings(api_key="SG.sg-SECRET-abcdefghij"),
    "ses": SesSettings(region="eu-west-1", base_url="https://email.eu-west-1.amazonaws.com"),
    "postmark": PostmarkSettings(server_token="pm-SECRET-0123-4567-89ab"),
}
OPTIONS = ProviderOptions(timeout=2.0, pool_size=5, poll_address="probe@example.com")

ANN = Address("ann@example.com")
BOB = Address("bob@example.com", "Bob Jones")
CAROL = Address("carol@example.com")
SENDER = Address("sender@example.com")
PDF = Attachment("report.pdf", "application/pdf", b"%PDF-1.4\x00\xff\xfe\x80\x81 not utf-8 \xc3\x28")
NOTES = Attachment("résumé notes ✓.txt", "text/plain; charset=utf-8", "Grüße, 世界\n".encode())

# Every adapter test that takes `case` runs once per message here; each test module states what it expects.
MESSAGES = {
    "single": Message(sender=SENDER, to=(ANN,), subject="Hello", text="Hi Ann"),
    "many_recipients": Message(sender=SENDER, to=(ANN, BOB, CAROL), subject="Hello all", text="Hi all"),
    "cc_bcc": Message(sender=SENDER, to=(ANN,), cc=(BOB, CAROL), bcc=(Address("dave@example.com"),),
                      subject="Copies", text="See copies"),
    "html_only": Message(sender=SENDER, to=(ANN,), subject="HTML", html="<p>Hi <b>Ann</b></p>"),
    "text_and_html": Message(sender=SENDER, to=(ANN,), subject="Both", text="Hi", html="<p>Hi</p>"),
    "reply_to": Message(sender=SENDER, to=(ANN,), subject="Reply", text="Reply, please",
                        reply_to=Address("desk@example.com", "Support Desk")),
    "display_names": Message(sender=Address("news@example.com", "Example News"),
                             to=(Address("john@example.com", "Smith, John"),
                                 Address("zoe@example.com", "Zoë Ünïcödé")),
                             subject="Names", text="Names"),
    "custom_headers": Message(sender=SENDER, to=(ANN,), subject="Headers", text="Headers",
                              headers=(("X-Campaign", "spring-2025"), ("X-Greeting", "Grüße"))),
    "tags": Message(sender=SENDER, to=(ANN,), subject="Tags", text="Tags", tags=("welcome", "onboarding")),
    # Values with characters outside SES's tag charset (space, _, ", %, /, \), which its adapter encodes.
    "metadata": Message(sender=SENDER, to=(ANN,), subject="Metadata", text="Metadata", tags=("welcome",),
                        metadata=(("customer", "c_77"), ("note", 'a "quoted" 100% \\ /'), ("order", "1234"))),
    "attachments": Message(sender=SENDER, to=(ANN,), subject="Files", text="Two files",
                           attachments=(PDF, NOTES)),
    "unicode": Message(sender=Address("sender@example.com", "Émile Zola"),
                       to=(Address("ann@example.com", "安妮"),),
                       subject="Grüße aus Köln 🌍", text="Привет, мир ✓", html="<p>日本語のテキスト 🎉</p>",
                       attachments=(NOTES,)),
    "everything": Message(
        sender=Address("news@example.com", "Example News"), to=(ANN, BOB), cc=(CAROL,),
        bcc=(Address("dave@example.com"),), subject="Everything ✓", text="Plain ✓", html="<p>Rich ✓</p>",
        reply_to=Address("desk@example.com", "Support Desk"),
        headers=(("X-Campaign", "all"),), tags=("welcome", "digest"), attachments=(PDF, NOTES),
    ),
}


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", list(MESSAGES), ids=list(MESSAGES))


@pytest.fixture
def message(case):
    """The message of this table row."""
    return MESSAGES[case]


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch, tmp_path):
    """No proxy, CA or AWS variables or files from the machine running the tests; known AWS keys instead.

    Sessions read the proxy and CA variables at construction; the AWS chain would otherwise read ~/.aws and
    ask an instance metadata service on the network.
    """
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)


def adapter(provider_class: type[Provider], options: ProviderOptions = OPTIONS, **changes) -> Provider:
    """An adapter built from its provider's SETTINGS, with `changes` to them."""
    return provider_class(dataclasses.replace(SETTINGS[provider_class.name], **changes), options)


@pytest.fixture
def rsps():
    """Outbound HTTP faked at the requests adapter; every registered answer must be used."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
