"""The message as one 7-bit MIME document: what an SMTP relay receives after DATA, and SES's raw content.

Headers, bodies and attachments; never a Bcc header, since Bcc recipients travel only in the envelope
(SMTP's RCPT TO, SES's Destination).
"""
from __future__ import annotations

import email.policy
import email.utils
import json
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage

from sendmailproxy.message import Address, Message

# CRLF line ends, headers RFC 2047-encoded and folded, and bodies in quoted-printable or base64: 7-bit clean with
# lines under 1000 characters, so any relay takes the message without 8BITMIME or SMTPUTF8, and so does SES raw.
# A header set raw (the metadata's) is written as it was folded here, never refolded into RFC 2047 words.
POLICY = email.policy.SMTP.clone(cte_type="7bit", refold_source="none")


def new_message_id(message: Message) -> str:
    """A new Message-ID in the sender's domain: the id we answer with, and what operators search relay logs for."""
    return email.utils.make_msgid(domain=message.sender.email.rpartition("@")[2])


def render(message: Message, *, message_id: str | None = None, tag_header: str | None = None,
           metadata_header: str | None = None) -> bytes:
    """The message's bytes (before any dot-stuffing).

    With `message_id`, the document is named and dated here (SES names and dates what it is sent itself);
    with `tag_header`, each tag is one header of that name; with `metadata_header`, the metadata is one header
    of that name (see metadata_json).
    """
    mime = EmailMessage(policy=POLICY)
    if message_id:
        mime["Message-ID"] = message_id
        mime["Date"] = email.utils.formatdate(usegmt=True)
    mime["From"] = _mailbox(message.sender)
    mime["To"] = [_mailbox(a) for a in message.to]
    if message.cc:
        mime["Cc"] = [_mailbox(a) for a in message.cc]
    if message.reply_to:
        mime["Reply-To"] = _mailbox(message.reply_to)
    mime["Subject"] = message.subject
    for name, value in message.headers:
        mime[name] = value
    if tag_header:
        for tag in message.tags:
            mime[tag_header] = tag
    if metadata_header and message.metadata:
        mime.set_raw(metadata_header, metadata_json(message.metadata))
    if message.text:
        mime.set_content(message.text)
    if message.html:
        if message.text:
            mime.add_alternative(message.html, subtype="html")
        else:
            mime.set_content(message.html, subtype="html")
    for attachment in message.attachments:
        content_type = POLICY.header_factory("Content-Type", attachment.content_type)
        mime.add_attachment(attachment.content, content_type.maintype, content_type.subtype,
                            filename=attachment.filename, params=dict(content_type.params))
    return mime.as_bytes()


def metadata_json(metadata: tuple[tuple[str, str], ...]) -> str:
    """The metadata as one JSON object of printable ASCII, folded after each entry: a line holds one entry
    (at most ~200 characters), and unfolding (removing each CRLF) leaves the same, valid JSON."""
    entries = [json.dumps(key) + ":" + json.dumps(value) for key, value in metadata]
    return "{" + ",\n ".join(entries) + "}"


def _mailbox(address: Address) -> HeaderAddress:
    # Header objects, not strings: the policy quotes and encodes display names itself.
    return HeaderAddress(display_name=address.name, addr_spec=address.email)
