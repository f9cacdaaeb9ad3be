"""Amazon SNS as SES's event destination: an HTTPS host on loopback serving the signing certificate (from the
fakes' CA), and SES events wrapped in signed SNS Notification envelopes."""

import http.server
import json
import ssl
import threading
import uuid
from datetime import datetime, timezone

from .server import url
from .signing import SnsSigner, json_body
from .tls import fake_ca

CERT_PATH = "/SimpleNotificationService-fakeproviders0000000000000001.pem"


class SnsTopic:
    """One topic posting to HTTPS subscribers, its certificate served at `cert_url_prefix` + CERT_PATH."""

    def __init__(self, topic_arn: str, host: str):
        self.topic_arn = topic_arn
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
        timestamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": self.topic_arn,
                    "Message": json.dumps(message), "Timestamp": timestamp,
                    "UnsubscribeURL": f"{self.cert_url_prefix}?Action=Unsubscribe"}
        return json_body(self.signer.sign(envelope, version))


def _handler(topic: SnsTopic):
    class CertificateHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == CERT_PATH
            body = topic.signer.certificate_pem if found else b"Not Found"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/x-pem-file" if found else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return CertificateHandler
