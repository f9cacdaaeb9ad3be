"""What one configured provider would refuse (SES's 50 recipients, Postmark's 10 MB...) is a 422 before any send."""
from __future__ import annotations

import base64

import pytest

from sendmailproxy.config import Config
from testkit.providers import FakeProvider
from tests.api.support import KEY, MINIMAL, OLD_KEY, nothing_sent

MB = 1000 * 1000


def addresses(count: int, prefix: str = "r") -> list[str]:
    return [f"{prefix}{n}@example.com" for n in range(count)]


@pytest.fixture(params=[("mailgun", "ses"), ("mailgun", "postmark")], ids=["ses", "postmark"])
def names(request):
    return request.param


@pytest.fixture
def providers(names) -> list[FakeProvider]:
    return [FakeProvider(name) for name in names]


@pytest.fixture
def config(names) -> Config:
    return Config(api_keys=(KEY, OLD_KEY), providers=names, poll_interval=60.0, max_body_bytes=12 * MB)


# (message fields, field named in the errors, by the provider that sets the limit).
REFUSED = {
    "ses": [({"toaddress": addresses(30), "ccaddress": addresses(21, "c")}, "_schema"),
            ({"tags": ["has space"]}, "tags")],
    "postmark": [({"toaddress": addresses(51)}, "toaddress"),
                 ({"plaintextbody": "x" * (5 * MB + 1)}, "plaintextbody"),
                 ({"attachments": [{"filename": "big.bin", "content": base64.b64encode(bytes(7 * MB)).decode()}]},
                  "_schema"),
                 # Postmark's Metadata holds the tags too: 10 fields, values of at most 80 characters.
                 ({"tags": ["a", "b"], "metadata": {f"k{n}": "v" for n in range(9)}}, "metadata"),
                 ({"tags": ["t" * 81]}, "tags")],
}
ACCEPTED = {
    "ses": [{"toaddress": addresses(30), "ccaddress": addresses(20, "c")}, {"tags": ["order-confirmation_2"]},
            {"metadata": {"note": "Any printable ASCII: 100% _ok_ / \"quoted\""}}],  # encoded into SES tags
    "postmark": [{"toaddress": addresses(50), "ccaddress": addresses(50, "c")}, {"plaintextbody": "x" * 5 * MB},
                 {"tags": ["a", "t" * 80], "metadata": {f"k{n}": "v" for n in range(8)}}],
}


def test_what_a_configured_provider_would_refuse_is_a_422_and_sent_nowhere(post_email, providers, names):
    for fields, field in REFUSED[names[1]]:
        response = post_email({**MINIMAL, **fields})
        assert response.status_code == 422, (fields.keys(), response.get_json())
        assert field in response.get_json()["errors"], response.get_json()
    assert nothing_sent(providers)


def test_what_every_configured_provider_takes_is_sent(post_email, providers, names):
    for fields in ACCEPTED[names[1]]:
        assert post_email({**MINIMAL, **fields}).status_code == 200
    assert len(providers[0].sent) == len(ACCEPTED[names[1]])

