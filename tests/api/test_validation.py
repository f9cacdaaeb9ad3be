"""POST /email with bad input: the right JSON error and status, in the right order, and nothing sent."""
from __future__ import annotations

import io

import pytest
from marshmallow import ValidationError

from sendmailproxy import schemas
from sendmailproxy.limits import Limits
from tests.api.spec_check import request_errors
from tests.api.support import KEY, MAX_BODY_BYTES, MINIMAL, README_BODY, nothing_sent


def with_(**fields) -> dict:
    return {**MINIMAL, **fields}


def without(name: str) -> dict:
    return {key: value for key, value in MINIMAL.items() if key != name}


def attachment(**fields) -> dict:
    return with_(attachments=[{"filename": "a.txt", "content": "QUJD", **fields}])


def headers(**pairs) -> dict:
    return with_(headers=pairs)


# id: (body, the key of `errors` that must explain it)
INVALID = {
    # required fields, nulls and types
    "no fromaddress": (without("fromaddress"), "fromaddress"),
    "no toaddress": (without("toaddress"), "toaddress"),
    "no subject": (without("subject"), "subject"),
    "null fromaddress": (with_(fromaddress=None), "fromaddress"),
    "null toaddress": (with_(toaddress=None), "toaddress"),
    "null subject": (with_(subject=None), "subject"),
    "number subject": (with_(subject=42), "subject"),
    "boolean subject": (with_(subject=True), "subject"),
    "list subject": (with_(subject=["a"]), "subject"),
    "number body": (with_(plaintextbody=1), "plaintextbody"),
    "object htmlbody": (with_(htmlbody={"a": "b"}), "htmlbody"),
    "object toaddress": (with_(toaddress={"email": "a@example.com"}), "toaddress"),
    "number toaddress": (with_(toaddress=7), "toaddress"),
    "number in to list": (with_(toaddress=["a@example.com", 7]), "toaddress"),
    "nested list in cc": (with_(ccaddress=[["a@example.com"]]), "ccaddress"),
    "list replyto": (with_(replytoaddress=["a@example.com"]), "replytoaddress"),
    "unknown field": (with_(bccadress="hidden@example.com"), "bccadress"),
    "original error field name": (with_(errorMessage="x"), "errorMessage"),
    # bodies
    "no body": (without("plaintextbody"), "_schema"),
    "empty bodies": (with_(plaintextbody="", htmlbody=""), "_schema"),
    "null bodies": (with_(plaintextbody=None, htmlbody=None), "_schema"),
    # subject
    "empty subject": (with_(subject=""), "subject"),
    "long subject": (with_(subject="s" * 999), "subject"),
    "LF in subject": (with_(subject="hi\nBcc: victim@example.com"), "subject"),
    "CR in subject": (with_(subject="hi\rthere"), "subject"),
    "tab in subject": (with_(subject="hi\tthere"), "subject"),
    "NUL in subject": (with_(subject="hi\x00"), "subject"),
    "lone surrogate in subject": (with_(subject="\ud800"), "subject"),
    "lone surrogate in body": (with_(plaintextbody="a\udfffb"), "plaintextbody"),
    # addresses
    "not an address": (with_(toaddress="not-an-address"), "toaddress"),
    "no domain dot": (with_(toaddress="a@localhost"), "toaddress"),
    "one-letter TLD": (with_(toaddress="a@b.c"), "toaddress"),
    "IP literal": (with_(toaddress="a@[127.0.0.1]"), "toaddress"),
    "two addresses in one string": (with_(toaddress="a@example.com, b@example.com"), "toaddress"),
    "address as a name": (with_(toaddress="a@example.com <b@example.com>"), "toaddress"),
    "unclosed bracket": (with_(toaddress="Ann <a@example.com"), "toaddress"),
    "comma in name": (with_(toaddress="Doe, John <j@example.com>"), "toaddress"),
    "comma in quoted name": (with_(toaddress='"Doe, John" <j@example.com>'), "toaddress"),
    "semicolon in name": (with_(ccaddress="Doe; John <j@example.com>"), "ccaddress"),
    "CRLF in name": (with_(toaddress="Ann\r\nBcc: victim@example.com <a@example.com>"), "toaddress"),
    "LF after address": (with_(toaddress="a@example.com\n"), "toaddress"),
    "space around address": (with_(toaddress=" a@example.com"), "toaddress"),
    "unicode local part": (with_(toaddress="jö@example.com"), "toaddress"),
    "unicode domain": (with_(toaddress="j@exämple.com"), "toaddress"),
    "unicode sender name": (with_(fromaddress="Jöhn <j@example.com>"), "fromaddress"),
    "address over 254": (with_(toaddress="a" * 64 + "@" + ".".join(["b" * 63] * 3)), "toaddress"),
    "empty to list": (with_(toaddress=[]), "toaddress"),
    "empty address": (with_(toaddress=""), "toaddress"),
    "bad cc in list": (with_(ccaddress=["c@example.com", "bad"]), "ccaddress"),
    "bad replyto": (with_(replytoaddress="help"), "replytoaddress"),
    "duplicate in to": (with_(toaddress=["a@example.com", "a@example.com"]), "toaddress"),
    "duplicate across to and cc, other case": (with_(ccaddress="ANOTHER@Email.com"), "ccaddress"),
    "duplicate across to and bcc, with name": (with_(bccaddress="Someone <another@email.com>"), "bccaddress"),
    "1001 in to": (with_(toaddress=[f"t{i}@example.com" for i in range(1001)]), "toaddress"),
    "1001 across to and cc": (with_(toaddress=[f"t{i}@example.com" for i in range(600)],
                                    ccaddress=[f"c{i}@example.com" for i in range(401)]), "_schema"),
    # headers
    "headers as list": (with_(headers=[["X-A", "1"]]), "headers"),
    "header without X-": (headers(Foo="1"), "headers"),
    "standard header": (headers(**{"Reply-To": "a@example.com"}), "headers"),
    "bare X-": (headers(**{"X-": "1"}), "headers"),
    "space in header name": (headers(**{"X-Foo Bar": "1"}), "headers"),
    "colon in header name": (headers(**{"X-Foo:": "1"}), "headers"),
    "non-ASCII header name": (headers(**{"X-Föö": "1"}), "headers"),
    "reserved by SendGrid": (headers(**{"X-SG-ID": "1"}), "headers"),
    "reserved, other case": (headers(**{"x-sg-eid": "1"}), "headers"),
    "number header value": (headers(**{"X-Count": 1}), "headers"),
    "null header value": (headers(**{"X-Count": None}), "headers"),
    "CRLF in header value": (headers(**{"X-Foo": "a\r\nBcc: victim@example.com"}), "headers"),
    "ESC in header value": (headers(**{"X-Foo": "a\x1b[31m"}), "headers"),
    "DEL in header value": (headers(**{"X-Foo": "a\x7f"}), "headers"),
    "header names equal ignoring case": (headers(**{"X-Foo": "1", "x-foo": "2"}), "headers"),
    "headers over 16 kB": (headers(**{"X-Big": "v" * 15_000, "X-Big2": "v" * 1_000}), "_schema"),
    # tags
    "tags as string": (with_(tags="orders"), "tags"),
    "four tags": (with_(tags=["a", "b", "c", "d"]), "tags"),
    "duplicate tags": (with_(tags=["a", "a"]), "tags"),
    "empty tag": (with_(tags=[""]), "tags"),
    "long tag": (with_(tags=["t" * 129]), "tags"),
    "non-ASCII tag": (with_(tags=["tä"]), "tags"),
    "LF in tag": (with_(tags=["a\nb"]), "tags"),
    "number tag": (with_(tags=[1]), "tags"),
    # attachments
    "attachments as object": (with_(attachments={"filename": "a", "content": "QUJD"}), "attachments"),
    "null attachment": (with_(attachments=[None]), "attachments"),
    "attachment without filename": (with_(attachments=[{"content": "QUJD"}]), "attachments"),
    "empty filename": (attachment(filename=""), "attachments"),
    "long filename": (attachment(filename="f" * 256), "attachments"),
    "LF in filename": (attachment(filename="a\nb.txt"), "attachments"),
    "NUL in filename": (attachment(filename="a\x00.txt"), "attachments"),
    "tab in filename": (attachment(filename="a\tb.txt"), "attachments"),
    "unit separator in filename": (attachment(filename="a\x1fb.txt"), "attachments"),
    "DEL in filename": (attachment(filename="a\x7f.txt"), "attachments"),
    "attachment without content": (with_(attachments=[{"filename": "a.txt"}]), "attachments"),
    "empty content": (attachment(content=""), "attachments"),
    "content not base64": (attachment(content="!!!!"), "attachments"),
    "content unpadded": (attachment(content="QQ"), "attachments"),
    "content with stray padding": (attachment(content="QUJD="), "attachments"),
    "content with a newline": (attachment(content="QUJD\nQUJD"), "attachments"),
    "content urlsafe alphabet": (attachment(content="-_-_"), "attachments"),
    "content type without subtype": (attachment(contenttype="text"), "attachments"),
    "content type with parameters": (attachment(contenttype="text/plain; charset=utf-8"), "attachments"),
    "CRLF in content type": (attachment(contenttype="text/plain\r\nX-Evil: 1"), "attachments"),
    "unknown attachment field": (attachment(name="a.txt"), "attachments"),
    # metadata
    "metadata as list": (with_(metadata=[["order", "1"]]), "metadata"),
    "metadata as string": (with_(metadata="order=1"), "metadata"),
    "11 metadata entries": (with_(metadata={f"k{n}": "v" for n in range(11)}), "metadata"),
    "empty metadata key": (with_(metadata={"": "v"}), "metadata"),
    "metadata key over 20": (with_(metadata={"k" * 21: "v"}), "metadata"),
    "dot in metadata key": (with_(metadata={"order.id": "v"}), "metadata"),
    "space in metadata key": (with_(metadata={"order id": "v"}), "metadata"),
    "non-ASCII metadata key": (with_(metadata={"größe": "v"}), "metadata"),
    "metadata key SendGrid's events use": (with_(metadata={"email": "v"}), "metadata"),
    "metadata key sg_message_id": (with_(metadata={"sg_message_id": "v"}), "metadata"),
    "metadata key our Postmark tags use": (with_(metadata={"tag1": "v"}), "metadata"),
    "number metadata value": (with_(metadata={"order": 1}), "metadata"),
    "null metadata value": (with_(metadata={"order": None}), "metadata"),
    "empty metadata value": (with_(metadata={"order": ""}), "metadata"),
    "metadata value over 80": (with_(metadata={"order": "v" * 81}), "metadata"),
    "non-ASCII metadata value": (with_(metadata={"city": "Köln"}), "metadata"),
    "LF in metadata value": (with_(metadata={"order": "1\n2"}), "metadata"),
    "headers and metadata over 16 kB": (with_(headers={"X-Big": "v" * 15_500},
                                              metadata={f"k{n}": "v" * 80 for n in range(10)}), "_schema"),
}


@pytest.mark.parametrize("body, field", INVALID.values(), ids=INVALID.keys())
def test_invalid_message_is_422_and_sent_nowhere(post_email, providers, body, field):
    response = post_email(body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
    assert nothing_sent(providers)


# The cases swagger.yaml states only in EmailRequest's prose, because JSON Schema cannot: sums and
# case-insensitive uniqueness across fields, byte counts, lone surrogates. Every other case is in its schema.
BEYOND_JSON_SCHEMA = {
    "lone surrogate in subject", "lone surrogate in body", "duplicate across to and cc, other case",
    "duplicate across to and bcc, with name", "1001 across to and cc", "header names equal ignoring case",
    "headers over 16 kB", "headers and metadata over 16 kB",
}


@pytest.mark.parametrize("body, case", [(body, case) for case, (body, _) in INVALID.items()], ids=INVALID.keys())
def test_the_spec_refuses_every_invalid_message_it_can_describe(body, case):
    # Generated clients and fuzzers trust the schema: a rule left out of it is a 422 they cannot foresee.
    refused = bool(request_errors(body))
    assert refused == (case not in BEYOND_JSON_SCHEMA)


def test_errors_name_the_item_in_a_list(post_email):
    response = post_email(with_(toaddress=["ok@example.com", "bad", "fine@example.com"]))
    assert list(response.get_json()["errors"]["toaddress"]) == ["1"]


def test_limits_follow_the_configured_providers_not_every_registered_one(post_email, providers):
    # SES and Postmark are registered but not configured: 60 recipients and a tag with a space are fine.
    body = with_(toaddress=[f"r{n}@example.com" for n in range(60)], tags=["has space"])
    assert post_email(body).status_code == 200
    assert len(providers[0].sent) == 1


def test_content_over_the_limit_is_refused():
    schema = schemas.EmailSchema(limits=Limits(content_bytes=14))
    with pytest.raises(ValidationError) as raised:
        schema.load(attachment(content="QUJDREVG"))  # 9 bytes of body, 6 of attachment
    assert raised.value.messages == {"_schema": ["Bodies and decoded attachments together exceed 14 bytes."]}
    assert schema.load(attachment(content="QUJDREU="))  # 14 bytes are fine


MALFORMED = {
    "empty body": b"",
    "truncated": b'{"fromaddress": "an@email.com"',
    "single quotes": b"{'subject': 'x'}",
    "trailing comma": b'{"subject": "x",}',
    "array": b'[{"subject": "x"}]',
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "invalid UTF-8": b'{"subject": "\xff\xfe"}',
    "UTF-16": '{"subject": "x"}'.encode("utf-16"),
    "UTF-8 BOM": b"\xef\xbb\xbf" + README_BODY,
    "NaN": b'{"subject": NaN}',
    "Infinity": b'{"subject": -Infinity}',
    "duplicate key": b'{"toaddress": "a@example.com", "toaddress": "b@example.com"}',
    "nested too deep": b"[" * 20_000 + b"]" * 20_000,
    "huge integer": b'{"subject": ' + b"9" * 5_000 + b"}",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_body_is_400(post_email, providers, data):
    response = post_email(data=data)
    assert response.status_code == 400
    assert response.get_json()["message"]
    assert nothing_sent(providers)


@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/jsonx", "text/json", "application/json; charset=latin-1",
])
def test_body_not_declared_json_is_415(client, providers, content_type):
    headers = {"X-API-KEY": KEY} | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/email", data=README_BODY, headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["message"]
    assert nothing_sent(providers)


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the body was read")


def test_oversized_content_length_is_413_without_reading(client, providers):
    response = client.post("/email", headers={"X-API-KEY": KEY, "Content-Type": "application/json"},
                           environ_overrides={"CONTENT_LENGTH": str(MAX_BODY_BYTES + 1),
                                              "wsgi.input": Unreadable()})
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    assert response.get_json()["message"]
    assert nothing_sent(providers)


def test_oversized_chunked_body_is_413(client, providers):
    response = client.post("/email", headers={"X-API-KEY": KEY, "Content-Type": "application/json"},
                           environ_overrides={"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked",
                                              "wsgi.input": io.BytesIO(b" " * (MAX_BODY_BYTES + 1)),
                                              "wsgi.input_terminated": True})
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    assert nothing_sent(providers)


def test_body_at_the_limit_is_read(post_email):
    padding = MAX_BODY_BYTES - len(README_BODY)
    assert post_email(data=README_BODY + b" " * padding).status_code == 200


# Each check wins over every later one: 413, 401, 415, 400, 422.
ORDER = {
    "413 before 401": ({"CONTENT_LENGTH": str(MAX_BODY_BYTES + 1), "wsgi.input": Unreadable()}, {}, 413),
    "401 before 415": ({}, {"Content-Type": "text/plain"}, 401),
    "415 before 400": ({}, {"X-API-KEY": KEY, "Content-Type": "text/plain"}, 415),
    "400 before 422": ({}, {"X-API-KEY": KEY, "Content-Type": "application/json"}, 400),
}


@pytest.mark.parametrize("environ, request_headers, status", ORDER.values(), ids=ORDER.keys())
def test_order_of_checks(client, environ, request_headers, status):
    response = client.post("/email", data=b"[not json", headers=request_headers, environ_overrides=environ)
    assert response.status_code == status
