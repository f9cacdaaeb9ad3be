"""How each provider signs its webhooks, done as the provider does it: the fakes post with these, and the
service's verifier tests sign their payloads with them."""
from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
_SNS_FIELDS = {  # what SNS signs for each message type, in byte order; Subject only when present
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's `signature.signature`: HMAC-SHA256 of timestamp + token, hex."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


class SendGridSigner:
    """An ECDSA P-256 key, as SendGrid makes one per account for its Signed Event Webhook."""

    def __init__(self):
        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()  # what SendGrid's settings show

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        """The signature headers for a body posted at `timestamp`."""
        signature = self._key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
        return {SENDGRID_SIGNATURE: base64.b64encode(signature).decode(), SENDGRID_TIMESTAMP: str(timestamp)}


class SnsSigner:
    """An RSA key and its self-signed certificate, served at `cert_url`, as SNS signs its HTTP(S) messages."""

    def __init__(self, cert_url: str):
        self.cert_url = cert_url
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                       .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1))
                       .not_valid_after(now + datetime.timedelta(days=365))
                       .sign(self._key, hashes.SHA256()))
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, envelope: dict, version: str = "1") -> dict:
        """The envelope with SignatureVersion, SigningCertURL and Signature added (version "1": SHA1, "2": SHA256)."""
        digest = {"1": hashes.SHA1, "2": hashes.SHA256}[version]()
        fields = [name for name in _SNS_FIELDS[envelope["Type"]] if name in envelope]
        to_sign = "".join(f"{name}\n{envelope[name]}\n" for name in fields).encode()
        signature = self._key.sign(to_sign, padding.PKCS1v15(), digest)
        return {**envelope, "SignatureVersion": version, "SigningCertURL": self.cert_url,
                "Signature": base64.b64encode(signature).decode()}


def basic_auth(username: str, password: str) -> str:
    """The Authorization header Postmark sends for credentials in the webhook URL."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def json_body(payload) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
