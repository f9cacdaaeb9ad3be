"""The scope and the fingerprint: pure functions."""
from __future__ import annotations

import dataclasses

from sendmailproxy.idempotency.keys import canonical_text, fingerprint, record_key
from sendmailproxy.message import Address, Attachment, Message

MESSAGE = Message(sender=Address("a@example.com", "A"), to=(Address("b@example.com"),), subject="s", text="t",
                  html="<p>t</p>", cc=(Address("c@example.com"),), bcc=(Address("d@example.com"),),
                  reply_to=Address("e@example.com"), headers=(("X-A", "1"), ("X-B", "2")), tags=("x", "y"),
                  attachments=(Attachment("f.txt", "text/plain", b"hello"),), metadata=(("order", "1"),))
CHANGES = {
    "sender": Address("a@example.com", "Other"), "to": (Address("b@example.com"), Address("z@example.com")),
    "subject": "S", "text": "t ", "html": None, "cc": (), "bcc": (Address("x@example.com"),), "reply_to": None,
    "headers": (("X-A", "1"), ("X-B", "3")), "tags": ("y", "x"),
    "attachments": (Attachment("f.txt", "text/plain", b"hellO"),), "metadata": (("order", "2"),),
}


def test_every_field_of_the_message_is_in_the_fingerprint():
    assert set(CHANGES) == {field.name for field in dataclasses.fields(Message)}, "a field the test does not change"
    for name, value in CHANGES.items():
        assert fingerprint(dataclasses.replace(MESSAGE, **{name: value})) != fingerprint(MESSAGE), name


def test_a_message_without_metadata_keeps_the_fingerprint_it_had_before_metadata_existed():
    # Both hex digests were printed by the fingerprint and Message of commit 095f5d4 (before `metadata`), for
    # these messages: `git archive 095f5d4 sendmailproxy/message.py sendmailproxy/idempotency/keys.py`, then
    # fingerprint(...) of each. A key kept before the upgrade must match its client's retry after it.
    minimal = Message(sender=Address("a@example.com"), to=(Address("b@example.com"),), subject="s", text="t")
    every_field = dataclasses.replace(MESSAGE, headers=tuple(reversed(MESSAGE.headers)), metadata=())
    assert fingerprint(minimal) == "e388a85ce8e496513b9e4eca15a186d1095cc7332f1637dfeafd907e5eeacac8"
    assert fingerprint(every_field) == "ba3a7517a3807c98ad82d26c182928fbe6c3349374335d7af8e536ab3485ea76"


def test_the_canonical_text_is_the_repr_with_metadata_and_without_it_when_empty():
    assert canonical_text(MESSAGE) == repr(MESSAGE)
    without = dataclasses.replace(MESSAGE, metadata=())
    assert canonical_text(without) == repr(without).replace(", metadata=()", "")


def test_custom_header_order_is_not_part_of_the_message():
    reordered = dataclasses.replace(MESSAGE, headers=tuple(reversed(MESSAGE.headers)))
    assert fingerprint(reordered) == fingerprint(MESSAGE)


def test_the_record_key_is_scoped_to_the_api_key_and_hides_both():
    assert record_key("client-1", "k") != record_key("client-2", "k")
    assert record_key("client-1", "k") == record_key("client-1", "k")
    assert "client-1" not in record_key("client-1", "k") and len(record_key("client-1", "k")) == 64
