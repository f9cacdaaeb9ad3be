"""SES's event publishing records (eventType) for a message the fake SES recorded, one per control API event."""

from datetime import datetime, timezone

from .webhooks import address_of


def _bounce(bounce_type: str, sub_type: str, status: str, diagnostic: str):
    def build(recipients, at):
        return {"bounce": {"bounceType": bounce_type, "bounceSubType": sub_type, "timestamp": at,
                           "feedbackId": "0100-fake-feedback", "reportingMTA": "dsn; a1-2.smtp-out.amazonses.com",
                           "bouncedRecipients": [{"emailAddress": r, "action": "failed", "status": status,
                                                  "diagnosticCode": diagnostic} for r in recipients]}}
    return "Bounce", build


# The control API's event names -> (eventType, the event's own object for these recipients at this time).
WEBHOOK_EVENTS = {
    "send": ("Send", lambda recipients, at: {"send": {}}),
    "delivered": ("Delivery", lambda recipients, at: {"delivery": {
        "timestamp": at, "processingTimeMillis": 546, "recipients": recipients, "smtpResponse": "250 2.6.0 Ok",
        "reportingMTA": "a8-70.smtp-out.amazonses.com"}}),
    "bounce": _bounce("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown"),
    "soft_bounce": _bounce("Transient", "MailboxFull", "4.2.2", "smtp; 452 4.2.2 mailbox full"),
    "dropped_suppressed": _bounce("Permanent", "OnAccountSuppressionList", "5.1.1",
                                  "Amazon SES did not send the message to this address because it is on the "
                                  "suppression list for your account."),
    "complaint": ("Complaint", lambda recipients, at: {"complaint": {
        "complainedRecipients": [{"emailAddress": r} for r in recipients], "timestamp": at,
        "feedbackId": "0100-fake-complaint", "complaintFeedbackType": "abuse", "complaintSubType": None}}),
    "delay": ("DeliveryDelay", lambda recipients, at: {"deliveryDelay": {
        "timestamp": at, "delayType": "MailboxFull", "expirationTime": at, "reportingMTA": "a8-70.smtp-out",
        "delayedRecipients": [{"emailAddress": r, "status": "4.2.2", "diagnosticCode": "smtp; 452 4.2.2 full"}
                              for r in recipients]}}),
    "reject": ("Reject", lambda recipients, at: {"reject": {"reason": "Bad content"}}),
    "open": ("Open", lambda recipients, at: {"open": {"timestamp": at, "ipAddress": "192.0.2.1",
                                                      "userAgent": "Mozilla/5.0"}}),
    "click": ("Click", lambda recipients, at: {"click": {"timestamp": at, "ipAddress": "192.0.2.1",
                                                         "userAgent": "Mozilla/5.0", "link": "https://example.com/",
                                                         "linkTags": {}}}),
}


def event(name: str, request, region: str) -> dict:
    """The SES event `name` for the request's recipients of its recorded message (tags as SES keeps them)."""
    kind, build = WEBHOOK_EVENTS[name]
    record, at = request.record, _iso(request.now)
    source = address_of(record["from"])
    mail = {"timestamp": _iso(record["received_at"]), "source": source,
            "sourceArn": f"arn:aws:ses:{region}:123456789012:identity/{source.rpartition('@')[2]}",
            "sendingAccountId": "123456789012", "messageId": record["id"],
            "destination": [address_of(m) for m in record["to"] + record["cc"] + record["bcc"]],
            "headersTruncated": False,
            "tags": {name: [value] for name, value in record["variables"].items()}}
    return {"eventType": kind, "mail": mail, **build(request.recipients, at)}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
