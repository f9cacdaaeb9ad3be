"""Amazon SNS's HTTP(S) envelope: SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA) checked against the
certificate at SigningCertURL, fetched only from SNS's own hosts, through requests (the process's CA and proxy
settings), and cached."""
from __future__ import annotations

import base64
import os
import re
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .model import parse_time
from .verdict import Refusal, as_text, check_fresh, malformed, unauthenticated

CERT_TIMEOUT_S = (3.05, 10)
CERT_CACHE_SIZE = 32  # SNS signs with one certificate per region at a time; a few rotations fit
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# The fields each message type signs, in this (byte) order; Subject only when present.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]+\.pem")


def ca_bundle(environ=os.environ) -> str | bool:
    """What requests should verify TLS with: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else SSL_CERT_FILE, else its own."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        if environ.get(name):
            return environ[name]
    return True


class SnsVerifier:
    """Checks SNS envelopes; `cert_url_prefix`, when set, replaces the SNS host rule (private endpoints, tests)."""

    def __init__(self, cert_url_prefix: str = "", session: requests.Session | None = None):
        self.cert_url_prefix = cert_url_prefix
        self._session = session or requests.Session()
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, envelope: dict, now: float, max_age: float) -> None:
        """Refuse (401) an envelope whose signature, certificate URL or timestamp is not right; return otherwise."""
        kind = as_text(envelope.get("Type"))
        if kind not in SIGNED_FIELDS:
            raise malformed(f"unknown SNS message type {kind!r}")
        fields = [(name, envelope.get(name)) for name in SIGNED_FIELDS[kind]]
        fields = [(name, value) for name, value in fields if not (name == "Subject" and value is None)]
        if not all(isinstance(value, str) for _, value in fields):
            raise malformed(f"an SNS {kind} needs {', '.join(SIGNED_FIELDS[kind])} as strings")
        version, signature = envelope.get("SignatureVersion"), envelope.get("Signature")
        if not signature:
            raise unauthenticated("no signature")
        if version not in HASHES:
            raise unauthenticated(f"unsupported SignatureVersion {version!r}")
        cert_url = envelope.get("SigningCertURL")
        if not isinstance(cert_url, str) or not self.trusted(cert_url, certificate=True):
            raise unauthenticated("SigningCertURL is not an SNS certificate URL")
        check_fresh(parse_time(envelope["Timestamp"]).timestamp(), now, max_age)
        to_sign = "".join(f"{name}\n{value}\n" for name, value in fields).encode()
        try:
            self._key(cert_url).verify(base64.b64decode(as_text(signature), validate=True), to_sign,
                                       padding.PKCS1v15(), HASHES[version]())
        except (InvalidSignature, ValueError):  # ValueError: not base64
            raise unauthenticated("wrong signature") from None

    def trusted(self, url: str, certificate: bool = False) -> bool:
        """Whether `url` is on SNS's hosts over https (a certificate: at SNS's certificate path), or starts with
        the configured prefix; a SubscribeURL takes the same rule without the path."""
        parts = urlsplit(url)
        if parts.scheme != "https":
            return False
        if self.cert_url_prefix:
            prefix = self.cert_url_prefix if certificate else _origin(self.cert_url_prefix)
            return url.startswith(prefix)
        host_ok = parts.port is None and parts.username is None and _SNS_HOST.fullmatch(parts.hostname or "")
        return bool(host_ok) and (not certificate or bool(_CERT_PATH.fullmatch(parts.path)) and not parts.query)

    def _key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            if url in self._keys:
                self._keys.move_to_end(url)
                return self._keys[url]
        key = self._fetch(url)
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > CERT_CACHE_SIZE:
                self._keys.popitem(last=False)
        return key

    def _fetch(self, url: str) -> rsa.RSAPublicKey:
        # Session.request, so HTTPS_PROXY applies; verify set here, so SSL_CERT_FILE counts too.
        try:
            response = self._session.request("GET", url, timeout=CERT_TIMEOUT_S, allow_redirects=False,
                                             verify=ca_bundle())
        except requests.RequestException as exc:
            raise Refusal(503, f"cannot fetch the SNS signing certificate: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise Refusal(503, f"cannot fetch the SNS signing certificate: HTTP {response.status_code}")
        try:
            key = x509.load_pem_x509_certificate(response.content).public_key()
        except ValueError:
            raise unauthenticated("SigningCertURL did not return a certificate") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise unauthenticated("the SNS signing certificate has no RSA key")
        return key


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"
