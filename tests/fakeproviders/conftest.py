"""One fake-providers subprocess per test module, reset before every test."""

import pytest
import requests

from fakeproviders.client import run_fake_providers

TIMEOUT = (2, 10)


@pytest.fixture(scope="module")
def fake():
    with run_fake_providers() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(fake):
    fake.control.reset_faults()
    fake.control.clear()


@pytest.fixture
def mailgun(fake):
    """POST a form to the fake Mailgun with valid credentials unless told otherwise."""

    def post(data=None, files=None, auth=None, url=None, session=requests, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return session.post(url or fake.send_url("mailgun"), data=data, files=files,
                            auth=auth or ("api", fake.options["mailgun_key"]), **kwargs)

    return post


@pytest.fixture
def sendgrid(fake):
    """POST JSON to the fake SendGrid with a valid key unless told otherwise."""

    def post(payload=None, key=None, url=None, session=requests, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("headers", {"Authorization": f"Bearer {key or fake.options['sendgrid_key']}"})
        return session.post(url or fake.send_url("sendgrid"), json=payload, **kwargs)

    return post


@pytest.fixture
def mailgun_form():
    """Build a valid Mailgun form; a change to None drops the field."""
    return _mailgun_form


@pytest.fixture
def sendgrid_payload():
    """Build a valid SendGrid payload; a change to None drops the key."""
    return _sendgrid_payload


def _mailgun_form(**changes) -> dict:
    fields = {"from": "Sender <sender@example.com>", "to": "rcpt@example.com",
              "subject": "Hello", "text": "Hello there"}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def _sendgrid_payload(**changes) -> dict:
    payload = {
        "personalizations": [{"to": [{"email": "rcpt@example.com", "name": "Rcpt"}]}],
        "from": {"email": "sender@example.com", "name": "Sender"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hello there"},
                    {"type": "text/html", "value": "<p>Hello there</p>"}],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}
