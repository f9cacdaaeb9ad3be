"""Event payloads in each provider's documented shape (Mailgun's, SendGrid's, SES's and Postmark's reference
examples, with our metadata and tags as our adapters send them)."""

RECIPIENT = "Alice@Example.com"


def mailgun_event(event: str, **fields) -> dict:
    """An `event-data` object (Mailgun's Events API shape, as webhooks carry it)."""
    data = {
        "event": event, "id": "G9Bn5sl1TC6nu79C8C0bwg", "timestamp": 1796300000.375624,
        "log-level": "info", "recipient": RECIPIENT, "recipient-domain": "example.com",
        "tags": ["welcome", "onboarding"], "user-variables": {"order": "A-17", "user_id": "42"},
        "envelope": {"sender": "bob@mg.example.com", "transport": "smtp", "targets": RECIPIENT},
        "message": {"headers": {"to": RECIPIENT, "message-id": "20261203113320.1.abc@mg.example.com",
                                "from": "Bob <bob@mg.example.com>", "subject": "Hello"},
                    "attachments": [], "size": 111},
        "flags": {"is-routed": False, "is-authenticated": True, "is-test-mode": False},
    }
    if event in ("delivered", "failed"):
        data["delivery-status"] = {"tls": True, "mx-host": "smtp.example.com", "attempt-no": 1,
                                   "description": "", "session-seconds": 0.4, "code": 250, "message": "OK"}
    data.update(fields)
    return data


def mailgun_failed(severity: str, code: int, message: str, reason: str = "bounce") -> dict:
    return mailgun_event("failed", severity=severity, reason=reason,
                         **{"delivery-status": {"code": code, "message": message, "description": "",
                                                "attempt-no": 1, "retry-seconds": 600}})


def sendgrid_event(event: str, **fields) -> dict:
    """One object of SendGrid's event array, our metadata flattened in as custom args."""
    item = {"email": RECIPIENT, "timestamp": 1796300000, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": event, "category": ["welcome", "onboarding"], "sg_event_id": f"sg_event_{event}",
            "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
            "order": "A-17", "user_id": "42"}
    item.update(fields)
    return item


def ses_mail(**fields) -> dict:
    """SES's `mail` object, with event publishing's tags (tag1..n and meta-<key>)."""
    mail = {"timestamp": "2026-12-03T12:13:19.000Z", "source": "bob@example.com",
            "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
            "sendingAccountId": "123456789012", "messageId": "0100018f3a7b2c1d-1234abcd-0001-000000",
            "destination": [RECIPIENT, "carol@example.com"], "headersTruncated": False,
            "tags": {"ses:configuration-set": ["smsp"], "tag1": ["welcome"], "tag2": ["onboarding"],
                     "meta-order": ["A-17"], "meta-user_id": ["42"]}}
    mail.update(fields)
    return mail


def ses_event(kind: str, body_key: str | None, body: dict | None, *, style: str = "eventType") -> dict:
    """An SES event publishing record (eventType) or notification (notificationType)."""
    event = {style: kind, "mail": ses_mail()}
    if body_key:
        event[body_key] = body
    return event


def ses_bounce(bounce_type: str, sub_type: str, recipients=(RECIPIENT,)) -> dict:
    return ses_event("Bounce", "bounce", {
        "bounceType": bounce_type, "bounceSubType": sub_type, "timestamp": "2026-12-03T12:13:20.000Z",
        "feedbackId": "0100-feedback", "reportingMTA": "dsn; a1-2.smtp-out.amazonses.com",
        "bouncedRecipients": [{"emailAddress": r, "action": "failed", "status": "5.1.1",
                               "diagnosticCode": "smtp; 550 5.1.1 user unknown"} for r in recipients]})


def postmark_record(record_type: str, **fields) -> dict:
    """A Postmark webhook body; our tags as Metadata tag1..n plus Tag, our metadata as themselves."""
    record = {"RecordType": record_type, "MessageStream": "outbound", "ServerID": 23,
              "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Tag": "welcome",
              "Metadata": {"tag1": "welcome", "tag2": "onboarding", "order": "A-17", "user_id": "42"}}
    record.update(fields)
    return record


def postmark_bounce(bounce_type: str, record_type: str = "Bounce") -> dict:
    return postmark_record(record_type, ID=4323372036854775807, Type=bounce_type, TypeCode=1,
                           Name="Hard bounce", Email=RECIPIENT, From="bob@example.com",
                           BouncedAt="2026-12-03T12:13:20.9070259Z", Details="smtp;550 5.1.1 user unknown",
                           Description="The server was unable to deliver your message", Inactive=True,
                           CanActivate=True, Subject="Hello", DumpAvailable=False)
