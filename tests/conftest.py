"""Fixtures that more than one test package uses: the local HTTPS server handing out SNS's signing certificate
(events, api) and a push receiver with its secret (push, functional)."""
from __future__ import annotations

import pytest
import trustme

from fakeproviders.signing import SnsSigner
from testkit.pushreceiver import PushReceiver
from tests.events.conftest import CERT_PATH, CertServer
from tests.push.conftest import new_secret


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture(scope="session")
def cert_server(ca):
    server = CertServer(ca)
    yield server
    server.close()


@pytest.fixture(scope="session")
def sns_signer(cert_server):
    signer = SnsSigner(cert_server.prefix.rstrip("/") + CERT_PATH)
    cert_server.pem = signer.certificate_pem
    return signer


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def receiver(secret):
    receiver = PushReceiver([secret]).start()
    yield receiver
    receiver.stop()
