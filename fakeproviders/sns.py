"""Amazon SNS as SES's event destination: an HTTPS host on loopback serving the signing certificate (from the
fakes' CA), and SES events wrapped in signed SNS Notification envelopes."""

import http.server
import json
import secrets
import ssl
import threading
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlsplit

from .server import url
from .signing import SnsSigner, json_body
from .tls import fake_ca

CERT_PATH = "/SimpleNotificationService-fakeproviders0000000000000001.pem"
CONFIRMED = (b'<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult>'
             b"<SubscriptionArn>arn:aws:sns:us-east-1:123456789012:smsp-events:fake</SubscriptionArn>"
             b"</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>")


class SnsTopic:
    """One topic posting to HTTPS subscribers, its certificate served at `cert_url_prefix` + CERT_PATH."""

    def __init__(self, topic_arn: str, host: str):
        self.topic_arn = topic_arn
        self.pending: dict[str, str] = {}  # subscription token -> the endpoint it was sent to
        self.confirmed: list[str] = []  # endpoints that fetched their SubscribeURL
        self._httpd = http.server.ThreadingHTTPServer((host, 0), _handler(self))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        fake_ca().issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.cert_url_prefix = url("https", host, self._httpd.server_address[1]) + "/"
        self.signer = SnsSigner(self.cert_url_prefix.rstrip("/") + CERT_PATH)
        # A daemon thread: the certificate host lives as long as the fake's process.
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def notification(self, message: dict, now: float, version: str) -> bytes:
        """A signed SNS Notification carrying `message` (an SES event) as its JSON string."""
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": self.topic_arn,
                    "Message": json.dumps(message), "Timestamp": _timestamp(now),
                    "UnsubscribeURL": f"{self.cert_url_prefix}?Action=Unsubscribe"}
        return json_body(self.signer.sign(envelope, version))

    def subscription_confirmation(self, endpoint: str, now: float, version: str) -> bytes:
        """The signed SubscriptionConfirmation SNS posts to a new HTTPS endpoint; GET its SubscribeURL to confirm."""
        token = secrets.token_hex(64)
        self.pending[token] = endpoint
        subscribe_url = (f"{self.cert_url_prefix}?Action=ConfirmSubscription&TopicArn={quote(self.topic_arn)}"
                         f"&Token={token}")
        envelope = {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": token,
                    "TopicArn": self.topic_arn, "SubscribeURL": subscribe_url, "Timestamp": _timestamp(now),
                    "Message": f"You have chosen to subscribe to the topic {self.topic_arn}.\nTo confirm the "
                               "subscription, visit the SubscribeURL included in this message."}
        return json_body(self.signer.sign(envelope, version))

    def confirm(self, query: str) -> bool:
        """A GET of a SubscribeURL: its endpoint is confirmed when the token is one we sent."""
        params = parse_qs(query)
        endpoint = self.pending.pop(params.get("Token", [""])[0], None)
        if params.get("Action") != ["ConfirmSubscription"] or endpoint is None:
            return False
        self.confirmed.append(endpoint)
        return True


def _timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _handler(topic: SnsTopic):
    class CertificateHandler(http.server.BaseHTTPRequestHandler):
        """The signing certificate at CERT_PATH, and SubscribeURLs (`/?Action=ConfirmSubscription&Token=...`)."""

        def do_GET(self):
            path = urlsplit(self.path)
            if path.path == "/" and topic.confirm(path.query):
                status, kind, body = 200, "text/xml", CONFIRMED
            elif self.path == CERT_PATH:
                status, kind, body = 200, "application/x-pem-file", topic.signer.certificate_pem
            else:
                status, kind, body = 404, "text/plain", b"Not Found"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return CertificateHandler
