"""The fake Mailgun answers as docs/provider-apis.md section 1 says the real one does."""

import hashlib
import re

import pytest
import requests

pytestmark = pytest.mark.functional  # each module starts the fake as a subprocess

INVALID = "{} parameter is not a valid address. please check documentation"
MAX_REQUEST_BYTES = int(52.4 * 1024 * 1024)


def assert_json_error(response, status, message=None):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    if message is not None:
        assert response.json() == {"message": message}


def test_accepts_a_message_with_a_bracketed_id(fake, mailgun, mailgun_form):
    response = mailgun(mailgun_form())

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["message"] == "Queued. Thank you."
    assert re.fullmatch(r"<\d{8}\.[^@<>]+@mg\.example\.com>", body["id"])
    [record] = fake.control.messages("mailgun")
    assert record["id"] == body["id"]
    assert record["probe"] is False
    assert (record["from"], record["to"], record["subject"], record["text"]) == (
        "Sender <sender@example.com>", ["rcpt@example.com"], "Hello", "Hello there")


def test_ids_are_unique(mailgun, mailgun_form):
    ids = {mailgun(mailgun_form()).json()["id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("auth", [
    None,
    ("api", "wrong-key"),
    ("user", "mg-test-key"),
], ids=["missing", "wrong-key", "wrong-user"])
def test_bad_credentials_get_a_plain_text_forbidden(fake, mailgun_form, auth):
    response = requests.post(fake.send_url("mailgun"), data=mailgun_form(), auth=auth, timeout=5)

    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Forbidden"
    assert fake.control.messages("mailgun") == []


def test_unknown_domain_is_a_404(fake, mailgun, mailgun_form):
    response = mailgun(mailgun_form(), url=f"{fake.urls['mailgun']}/v3/other.example.com/messages")
    assert_json_error(response, 404, "Domain not found: other.example.com")


@pytest.mark.parametrize("path", [
    "/v3/mg.example.com%2Fextra/messages",
    "/v3/mg.example.com/extra/messages",
    "/v3/messages",
    "/v3/mg.example.com/events",
    "/",
])
def test_a_malformed_path_gets_the_magnificent_200(fake, mailgun, mailgun_form, path):
    response = mailgun(mailgun_form(), url=fake.urls["mailgun"] + path)

    assert response.status_code == 200
    assert response.text == "Mailgun Magnificent API"
    assert fake.control.messages("mailgun", probes=None) == []


def test_wrong_method_is_a_405(fake):
    response = requests.get(fake.send_url("mailgun"), auth=("api", fake.options["mailgun_key"]), timeout=5)
    assert_json_error(response, 405)


@pytest.mark.parametrize("changes, message", [
    pytest.param({"from": None}, "from parameter is missing", id="no-from"),
    pytest.param({"from": ""}, "from parameter is missing", id="empty-from"),
    pytest.param({"to": None}, "to parameter is missing", id="no-to"),
    pytest.param({"to": " , "}, "to parameter is missing", id="empty-to-list"),
    pytest.param({"text": None}, "Need at least one of 'text' or 'html' parameters specified",
                 id="no-body"),
    pytest.param({"from": "not an address"}, INVALID.format("from"), id="bad-from"),
    pytest.param({"to": "rcpt-at-example.com"}, INVALID.format("to"), id="bad-to"),
    pytest.param({"to": "ok@example.com, broken@"}, INVALID.format("to"), id="bad-to-in-list"),
    pytest.param({"cc": "Name <broken>"}, INVALID.format("cc"), id="bad-named-cc"),
    pytest.param({"bcc": "nobody@localhost"}, INVALID.format("bcc"), id="bad-bcc-domain"),
    pytest.param({"to": ",".join(f"r{i}@example.com" for i in range(1001))},
                 "Too many recipients, max is 1000", id="1001-to"),
    pytest.param({"to": ",".join(f"r{i}@example.com" for i in range(500)),
                  "cc": ",".join(f"c{i}@example.com" for i in range(500)), "bcc": "b@example.com"},
                 "Too many recipients, max is 1000", id="1001-to-cc-bcc"),
    pytest.param({"v:big": "x" * 16 * 1024}, None, id="options-over-16k"),
    pytest.param({"h:X-Caf\u00e9": "1"}, None, id="non-ascii-header-name"),
    pytest.param({"recipient-variables": "{not json"}, None, id="bad-recipient-variables"),
])
def test_invalid_messages_get_a_400(fake, mailgun, mailgun_form, changes, message):
    assert_json_error(mailgun(mailgun_form(**changes)), 400, message)
    assert fake.control.messages("mailgun", probes=None) == []


@pytest.mark.parametrize("changes", [
    {"text": None, "html": "<p>Hi</p>"},
    {"subject": None},
    {"to": ",".join(f"r{i}@example.com" for i in range(998)), "cc": "c@example.com",
     "bcc": "b@example.com"},
    {"to": '"Last, First" <first@example.com>'},
    {"v:order": "x" * 15000},
], ids=["html-only", "no-subject", "1000-recipients", "quoted-comma", "options-under-16k"])
def test_valid_variants_are_accepted(mailgun, mailgun_form, changes):
    assert mailgun(mailgun_form(**changes)).status_code == 200


def test_other_content_types_get_a_400(fake, mailgun_form):
    response = requests.post(fake.send_url("mailgun"), json=mailgun_form(),
                             auth=("api", fake.options["mailgun_key"]), timeout=5)
    assert_json_error(response, 400)
    assert "multipart/form-data" in response.json()["message"]


def test_a_request_over_52_4_mib_is_a_413(fake, mailgun):
    body = b"text=" + b"x" * MAX_REQUEST_BYTES
    with requests.Session() as session:
        response = mailgun(body, session=session, timeout=(5, 60),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert_json_error(response, 413, "request size exceeds 52.4MiB limit")
        # The fake drained the body, so the same connection serves the next request.
        assert mailgun({}, session=session).status_code == 400
    assert fake.control.stats()["mailgun"]["connections"] == 1


def test_repeated_fields_and_comma_lists_are_recorded_as_given(fake, mailgun, mailgun_form):
    form = mailgun_form(**{
        "to": ["a@example.com", "B <b@example.com>, c@example.com"],
        "cc": ['"Last, First" <d@example.com>'],
        "bcc": ["e@example.com", "f@example.com"],
        "o:tag": ["welcome", "onboarding"],
        "h:Reply-To": "Replies <reply@example.com>",
        "h:X-Campaign": "autumn",
        "v:order-id": "1234",
        "html": "<p>Hello</p>",
    })

    assert mailgun(form).status_code == 200

    [record] = fake.control.messages("mailgun")
    assert record["to"] == ["a@example.com", "B <b@example.com>", "c@example.com"]
    assert record["cc"] == ['"Last, First" <d@example.com>']
    assert record["bcc"] == ["e@example.com", "f@example.com"]
    assert record["tags"] == ["welcome", "onboarding"]
    assert record["reply_to"] == "Replies <reply@example.com>"
    assert record["headers"] == {"Reply-To": "Replies <reply@example.com>", "X-Campaign": "autumn"}
    assert record["variables"] == {"order-id": "1234"}
    assert record["html"] == "<p>Hello</p>"


def test_multipart_attachments_are_recorded_with_size_and_digest(fake, mailgun, mailgun_form):
    binary = bytes(range(256)) * 64 + b"\r\n--boundary-lookalike\r\n"
    files = [
        ("to", (None, "second@example.com")),
        ("subject", (None, "Gr\u00fc\u00dfe")),
        ("attachment", ("report.pdf", binary, "application/pdf")),
        ("attachment", ("notes.txt", b"plain notes")),
        ("inline", ("logo.png", b"\x89PNG fake", "image/png")),
    ]

    assert mailgun(mailgun_form(subject=None), files=files).status_code == 200

    [record] = fake.control.messages("mailgun")
    assert record["to"] == ["rcpt@example.com", "second@example.com"]
    assert record["subject"] == "Gr\u00fc\u00dfe"
    assert record["attachments"] == [
        {"filename": "report.pdf", "content_type": "application/pdf", "size": len(binary),
         "sha256": hashlib.sha256(binary).hexdigest()},
        {"filename": "notes.txt", "content_type": None, "size": 11,
         "sha256": hashlib.sha256(b"plain notes").hexdigest()},
        {"filename": "logo.png", "content_type": "image/png", "size": 9,
         "sha256": hashlib.sha256(b"\x89PNG fake").hexdigest()},
    ]


def test_broken_multipart_is_a_400(fake, mailgun):
    response = mailgun(b"--nope\r\nno headers here", headers={
        "Content-Type": "multipart/form-data; boundary=other"})
    assert_json_error(response, 400, "malformed multipart/form-data request")


@pytest.mark.parametrize("testmode", ["yes", "true", "True"])
def test_testmode_is_accepted_and_recorded_as_a_probe(fake, mailgun, mailgun_form, testmode):
    response = mailgun(mailgun_form(**{"o:testmode": testmode}))

    assert response.status_code == 200
    assert response.json()["message"] == "Queued. Thank you."
    assert fake.control.messages("mailgun") == []
    [probe] = fake.control.messages("mailgun", probes=True)
    assert probe["probe"] is True and probe["id"] == response.json()["id"]
    assert fake.control.stats()["mailgun"] | {"by_status": None} == {
        "requests": 1, "by_status": None, "connections": 1, "accepted": 0, "probes": 1}


def test_testmode_no_is_a_real_message(fake, mailgun, mailgun_form):
    assert mailgun(mailgun_form(**{"o:testmode": "no"})).status_code == 200
    assert len(fake.control.messages("mailgun")) == 1
