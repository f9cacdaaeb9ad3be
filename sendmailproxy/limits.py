"""What a provider takes in one message, in the API's own measures, and what all the configured ones take."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Limits:
    """The defaults are what Mailgun and SendGrid both take (docs/provider-apis.md §4); a provider may only lower them."""

    content_bytes: int = 25_000_000  # UTF-8 bodies plus decoded attachments: Mailgun's 25 MB (SendGrid's is 30 MB)
    body_bytes: int = 25_000_000  # each of the text and HTML bodies, as UTF-8
    recipients: int = 1000  # to + cc + bcc together
    recipients_per_field: int = 1000  # each of to, cc and bcc
    tag_rules: tuple[tuple[str, str], ...] = ()  # (a pattern every tag must fullmatch, that rule in words)
    tags_and_metadata: int = 1000  # tags plus metadata entries (Postmark keeps both in its Metadata's 10 fields)

    @classmethod
    def common(cls, limits: Iterable[Limits]) -> Limits:
        """What every one of these providers takes: a message within it is refused by none of them for size."""
        every = [cls(), *limits]
        return cls(content_bytes=min(each.content_bytes for each in every),
                   body_bytes=min(each.body_bytes for each in every),
                   recipients=min(each.recipients for each in every),
                   recipients_per_field=min(each.recipients_per_field for each in every),
                   tag_rules=tuple(dict.fromkeys(rule for each in every for rule in each.tag_rules)),
                   tags_and_metadata=min(each.tags_and_metadata for each in every))
