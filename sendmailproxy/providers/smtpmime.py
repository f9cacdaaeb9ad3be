"""The message as the MIME document an SMTP relay receives: headers, bodies and attachments, never the Bcc."""
from __future__ import annotations

import email.policy
import email.utils
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage

from sendmailproxy.message import Address, Message

TAG_HEADER = "X-Tag"  # one header per tag, as Mailgun's SMTP interface takes X-Mailgun-Tag
# CRLF line ends, headers RFC 2047-encoded, and bodies in quoted-printable or base64: 7-bit clean, so any
# relay takes the message without 8BITMIME or SMTPUTF8.
POLICY = email.policy.SMTP.clone(cte_type="7bit")


def message_id(message: Message) -> str:
    """A new Message-ID in the sender's domain: the id we answer with, and what operators search relay logs for."""
    return email.utils.make_msgid(domain=message.sender.email.rpartition("@")[2])


def render(message: Message, message_id: str) -> bytes:
    """The message's bytes as sent after DATA (before dot-stuffing); Bcc recipients appear only in the envelope."""
    mime = EmailMessage(policy=POLICY)
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
    for tag in message.tags:
        mime[TAG_HEADER] = tag
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


def envelope_recipients(message: Message) -> list[str]:
    """Every address the relay must deliver to: To, Cc and Bcc."""
    return [address.email for address in (*message.to, *message.cc, *message.bcc)]


def _mailbox(address: Address) -> HeaderAddress:
    # Header objects, not strings: the policy quotes and encodes display names itself.
    return HeaderAddress(display_name=address.name, addr_spec=address.email)
