"""Keys made per test session, a local HTTPS server handing out the SNS signing certificate, and payload helpers."""
import http.server
import json
import ssl
import threading

import pytest
import trustme

from fakeproviders.signing import SendGridSigner, basic_auth, json_body, mailgun_signature
from sendmailproxy.events.mailgun import MailgunWebhook
from sendmailproxy.events.postmark import PostmarkWebhook
from sendmailproxy.events.sendgrid import SendGridWebhook, load_public_key
from sendmailproxy.events.ses import SesWebhook
from sendmailproxy.events.sns import SnsVerifier

NOW = 1796300000.0  # 2026-12-03T12:13:20Z
MAX_AGE = 129600
MG_KEY = "key-mailgun-signing-0123456789abcdef"
TOPIC = "arn:aws:sns:us-east-1:123456789012:smsp-events"
CERT_PATH = "/SimpleNotificationService-0123456789abcdef.pem"
PM_USER, PM_PASSWORD = "postmark", "pm-webhook-password-ünï"


class CertServer:
    """HTTPS on 127.0.0.1 with a trustme CA; serves one PEM at CERT_PATH and counts the GETs."""

    def __init__(self, ca: trustme.CA):
        self.pem, self.gets = b"", 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.gets += 1
                found = self.path == CERT_PATH
                body = server.pem if found else b"not found"
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.prefix = f"https://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch, ca, tmp_path):
    """No proxy from the machine; the test CA as SSL_CERT_FILE, the only CA variable set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))


@pytest.fixture(scope="session")
def sendgrid_signer():
    return SendGridSigner()


@pytest.fixture
def mailgun():
    return MailgunWebhook(MG_KEY, MAX_AGE)


@pytest.fixture
def sendgrid(sendgrid_signer):
    return SendGridWebhook(load_public_key(sendgrid_signer.public_key), MAX_AGE)


@pytest.fixture
def ses(cert_server, sns_signer):
    return SesWebhook((TOPIC,), SnsVerifier(cert_server.prefix), MAX_AGE)


@pytest.fixture
def postmark():
    return PostmarkWebhook(PM_USER, PM_PASSWORD)


def mailgun_post(event_data: dict, timestamp: float = NOW, token: str = "t" * 50, key: str = MG_KEY) -> bytes:
    """A Mailgun webhook body, signed."""
    stamp = str(int(timestamp))
    signature = {"timestamp": stamp, "token": token, "signature": mailgun_signature(key, stamp, token)}
    return json_body({"signature": signature, "event-data": event_data})


def sendgrid_post(signer, events: list, timestamp: float = NOW) -> tuple[bytes, dict]:
    """A SendGrid batch and its signature headers."""
    body = json_body(events)
    return body, signer.headers(body, int(timestamp))


def sns_notification(signer, message: dict, version: str = "1", topic: str = TOPIC,
                     timestamp: str = "2026-12-03T12:13:20.000Z", message_id: str = "sns-1", **extra) -> bytes:
    """An SNS Notification envelope around an SES event, signed."""
    envelope = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic, "Message": json.dumps(message),
                "Timestamp": timestamp, **extra}
    return json_body(signer.sign(envelope, version))


def postmark_headers(user: str = PM_USER, password: str = PM_PASSWORD) -> dict:
    return {"Authorization": basic_auth(user, password), "Content-Type": "application/json"}
