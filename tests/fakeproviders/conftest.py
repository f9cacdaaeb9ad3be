"""One fake-providers subprocess per test module, reset before every test."""

import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

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


@pytest.fixture
def ses(fake):
    """POST JSON to the fake SES, SigV4-signed with its key unless told otherwise.

    `headers` replace signed ones after signing; `tamper` is a body sent instead of the one signed.
    """

    def post(payload, *, signed=True, key_id=None, secret=None, region=None, headers=None, tamper=None):
        url, body = fake.send_url("ses"), json.dumps(payload).encode()
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        if signed:
            credentials = Credentials(key_id or fake.options["ses_access_key_id"],
                                      secret or fake.options["ses_secret_access_key"])
            SigV4Auth(credentials, "ses", region or fake.options["ses_region"]).add_auth(request)
        return requests.post(url, data=body if tamper is None else tamper, timeout=TIMEOUT,
                             headers={**dict(request.headers.items()), **(headers or {})})

    return post


@pytest.fixture
def postmark(fake):
    """POST JSON to the fake Postmark with its server token unless told otherwise ("" sends none)."""

    def post(payload=None, token=None, headers=None, **kwargs):
        token = fake.options["postmark_token"] if token is None else token
        headers = {"Accept": "application/json", **({"X-Postmark-Server-Token": token} if token else {}),
                   **(headers or {})}
        return requests.post(fake.send_url("postmark"), json=payload, headers=headers, timeout=TIMEOUT, **kwargs)

    return post


@pytest.fixture
def ses_payload():
    """Build a valid SES v2 SendEmail payload; a change to None drops the key."""
    return _ses_payload


@pytest.fixture
def postmark_payload():
    """Build a valid Postmark payload; a change to None drops the key."""
    return _postmark_payload


def _ses_payload(**changes) -> dict:
    payload = {
        "FromEmailAddress": "Sender <sender@example.com>",
        "Destination": {"ToAddresses": ["Rcpt <rcpt@example.com>"]},
        "Content": {"Simple": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Hello there"},
                                                                      "Html": {"Data": "<p>Hello there</p>"}}}},
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def _postmark_payload(**changes) -> dict:
    payload = {"From": "Sender <sender@example.com>", "To": "Rcpt <rcpt@example.com>", "Subject": "Hello",
               "TextBody": "Hello there", "HtmlBody": "<p>Hello there</p>", "MessageStream": "outbound"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}
