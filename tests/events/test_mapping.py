"""The mapping table of docs/events.md, one row per provider event type or bounce class, each a payload in that
provider's documented shape, received through its verifier with a real signature."""
import pytest

from fakeproviders.signing import json_body
from sendmailproxy.events.verdict import Accepted

from .conftest import NOW, mailgun_post, postmark_headers, sendgrid_post, sns_notification
from .payloads import (RECIPIENT, mailgun_event, mailgun_failed, postmark_bounce, postmark_record, sendgrid_event,
                       ses_bounce, ses_event)

SKIPPED = None  # the row's event is not kept (only repeats our own 200, or is none of our types)

MAILGUN = {
    "accepted": (mailgun_event("accepted"), SKIPPED),
    "delivered": (mailgun_event("delivered"), ("delivered", None)),
    "failed permanent": (mailgun_failed("permanent", 550, "5.1.1 user unknown"), ("bounced", "bounced")),
    "failed temporary": (mailgun_failed("temporary", 452, "4.2.2 mailbox full"), ("deferred", None)),
    "failed 605 bounced before": (mailgun_failed("permanent", 605, "Not delivering to previously bounced address",
                                                 "suppress-bounce"), ("dropped", "bounced")),
    "failed 606 unsubscribed": (mailgun_failed("permanent", 606, "Not delivering to unsubscribed address",
                                               "suppress-unsubscribe"), ("dropped", "unsubscribed")),
    "failed 607 complained": (mailgun_failed("permanent", 607, "Not delivering to a user who marked your "
                                             "messages as spam", "suppress-complaint"), ("dropped", "complained")),
    "failed 625 poor list": (mailgun_failed("permanent", 625, "Poor mailing list quality", "generic"),
                             ("dropped", None)),
    "rejected": (mailgun_event("rejected", reject={"reason": "Sandbox subdomains are for test purposes only"}),
                 ("dropped", None)),
    "opened": (mailgun_event("opened", ip="50.56.129.169"), ("opened", None)),
    "clicked": (mailgun_event("clicked", url="https://example.com/a"), ("clicked", None)),
    "unsubscribed": (mailgun_event("unsubscribed"), ("unsubscribed", "unsubscribed")),
    "complained": (mailgun_event("complained"), ("complained", "complained")),
    "stored": (mailgun_event("stored"), SKIPPED),
}

SENDGRID = {
    "processed": (sendgrid_event("processed"), SKIPPED),
    "delivered": (sendgrid_event("delivered", response="250 OK"), ("delivered", None)),
    "deferred": (sendgrid_event("deferred", response="400 try again later", attempt="5"), ("deferred", None)),
    "bounce type bounce": (sendgrid_event("bounce", type="bounce", status="5.0.0", reason="550 user unknown"),
                           ("bounced", "bounced")),
    "bounce type blocked": (sendgrid_event("bounce", type="blocked", status="4.0.0", reason="421 try later"),
                            ("deferred", None)),
    "dropped Bounced Address": (sendgrid_event("dropped", reason="Bounced Address"), ("dropped", "bounced")),
    "dropped Spam Reporting Address": (sendgrid_event("dropped", reason="Spam Reporting Address"),
                                       ("dropped", "complained")),
    "dropped Unsubscribed Address": (sendgrid_event("dropped", reason="Unsubscribed Address"),
                                     ("dropped", "unsubscribed")),
    "dropped Invalid": (sendgrid_event("dropped", reason="Invalid"), ("dropped", "dropped")),
    "dropped Spam Content": (sendgrid_event("dropped", reason="Spam Content"), ("dropped", None)),
    "dropped Invalid SMTPAPI header": (sendgrid_event("dropped", reason="Invalid SMTPAPI header"),
                                       ("dropped", None)),
    "dropped over quota": (sendgrid_event("dropped", reason="Recipient List over Package Quota"),
                           ("dropped", None)),
    "open": (sendgrid_event("open", useragent="Mozilla/5.0", ip="255.255.255.255"), ("opened", None)),
    "click": (sendgrid_event("click", url="https://example.com/a", url_offset={"index": 0, "type": "html"}),
              ("clicked", None)),
    "spamreport": (sendgrid_event("spamreport"), ("complained", "complained")),
    "unsubscribe": (sendgrid_event("unsubscribe"), ("unsubscribed", "unsubscribed")),
    "group_unsubscribe": (sendgrid_event("group_unsubscribe", asm_group_id=10), ("unsubscribed", "unsubscribed")),
    "group_resubscribe": (sendgrid_event("group_resubscribe", asm_group_id=10), SKIPPED),
}

SES = {
    "Send": (ses_event("Send", "send", {}), SKIPPED),
    "Delivery": (ses_event("Delivery", "delivery", {
        "timestamp": "2026-12-03T12:13:20.000Z", "processingTimeMillis": 546, "recipients": [RECIPIENT],
        "smtpResponse": "250 ok", "reportingMTA": "a8-70.smtp-out.amazonses.com"}), ("delivered", None)),
    "Delivery notification": (ses_event("Delivery", "delivery", {
        "timestamp": "2026-12-03T12:13:20.000Z", "recipients": [RECIPIENT], "smtpResponse": "250 ok"},
        style="notificationType"), ("delivered", None)),
    "Bounce Permanent General": (ses_bounce("Permanent", "General"), ("bounced", "bounced")),
    "Bounce Permanent NoEmail": (ses_bounce("Permanent", "NoEmail"), ("bounced", "bounced")),
    "Bounce Permanent Suppressed": (ses_bounce("Permanent", "Suppressed"), ("dropped", None)),
    "Bounce Permanent OnAccountSuppressionList": (ses_bounce("Permanent", "OnAccountSuppressionList"),
                                                  ("dropped", "dropped")),
    "Bounce Transient General": (ses_bounce("Transient", "General"), ("deferred", None)),
    "Bounce Transient MailboxFull": (ses_bounce("Transient", "MailboxFull"), ("deferred", None)),
    "Bounce Transient MessageTooLarge": (ses_bounce("Transient", "MessageTooLarge"), ("deferred", None)),
    "Bounce Transient ContentRejected": (ses_bounce("Transient", "ContentRejected"), ("deferred", None)),
    "Bounce Transient AttachmentRejected": (ses_bounce("Transient", "AttachmentRejected"), ("deferred", None)),
    "Bounce Undetermined": (ses_bounce("Undetermined", "Undetermined"), ("deferred", None)),
    "Complaint": (ses_event("Complaint", "complaint", {
        "complainedRecipients": [{"emailAddress": RECIPIENT}], "timestamp": "2026-12-03T12:13:20.000Z",
        "feedbackId": "0100-f", "complaintFeedbackType": "abuse", "complaintSubType": None}),
        ("complained", "complained")),
    "Complaint OnAccountSuppressionList": (ses_event("Complaint", "complaint", {
        "complainedRecipients": [{"emailAddress": RECIPIENT}], "timestamp": "2026-12-03T12:13:20.000Z",
        "feedbackId": "0100-f", "complaintSubType": "OnAccountSuppressionList"}), ("dropped", "dropped")),
    "Reject": (ses_event("Reject", "reject", {"reason": "Bad content"}), ("dropped", None)),
    "Rendering Failure": (ses_event("Rendering Failure", "failure", {
        "errorMessage": "Attribute 'name' is not present", "templateName": "t"}), ("dropped", None)),
    "DeliveryDelay": (ses_event("DeliveryDelay", "deliveryDelay", {
        "timestamp": "2026-12-03T12:13:20.000Z", "delayType": "MailboxFull", "expirationTime": "2026-12-04T12:13Z",
        "delayedRecipients": [{"emailAddress": RECIPIENT, "status": "4.2.2",
                               "diagnosticCode": "smtp; 452 4.2.2 mailbox full"}]}), ("deferred", None)),
    "Open": (ses_event("Open", "open", {"timestamp": "2026-12-03T12:13:20.000Z", "ipAddress": "192.0.2.1",
                                        "userAgent": "Mozilla/5.0"}), ("opened", None)),
    "Click": (ses_event("Click", "click", {"timestamp": "2026-12-03T12:13:20.000Z", "ipAddress": "192.0.2.1",
                                           "link": "https://example.com/a", "linkTags": {}}), ("clicked", None)),
    "Subscription unsubscribeAll": (ses_event("Subscription", "subscription", {
        "contactList": "news", "timestamp": "2026-12-03T12:13:20.000Z", "source": "UnsubscribeHeader",
        "newTopicPreferences": {"unsubscribeAll": True, "topicSubscriptionStatus": []}}),
        ("unsubscribed", "unsubscribed")),
    "Subscription topic change": (ses_event("Subscription", "subscription", {
        "contactList": "news", "timestamp": "2026-12-03T12:13:20.000Z", "source": "UnsubscribeHeader",
        "newTopicPreferences": {"unsubscribeAll": False,
                                "topicSubscriptionStatus": [{"topicName": "a", "subscriptionStatus": "OptOut"}]}}),
        SKIPPED),
}

POSTMARK = {
    "Delivery": (postmark_record("Delivery", Recipient=RECIPIENT, DeliveredAt="2026-12-03T12:13:20Z",
                                 Details="Test delivery webhook details"), ("delivered", None)),
    **{f"Bounce {kind}": (postmark_bounce(kind), expected) for kind, expected in {
        "HardBounce": ("bounced", "bounced"), "SoftBounce": ("deferred", None), "Transient": ("deferred", None),
        "DnsError": ("deferred", None), "Blocked": ("deferred", None), "DMARCPolicy": ("deferred", None),
        "SpamNotification": ("deferred", None), "VirusNotification": ("deferred", None),
        "Unknown": ("deferred", None), "BadEmailAddress": ("dropped", None), "ManuallyDeactivated": ("dropped", None),
        "SMTPApiError": ("dropped", None), "TemplateRenderingFailed": ("dropped", None),
        "Unsubscribe": ("unsubscribed", "unsubscribed"), "AutoResponder": SKIPPED, "Subscribe": SKIPPED,
        "AddressChange": SKIPPED, "OpenRelayTest": SKIPPED, "ChallengeVerification": SKIPPED,
        "Unconfirmed": SKIPPED, "InboundError": SKIPPED}.items()},
    "SpamComplaint": (postmark_bounce("SpamComplaint", "SpamComplaint"), ("complained", "complained")),
    "Open": (postmark_record("Open", Recipient=RECIPIENT, ReceivedAt="2026-12-03T12:13:20Z", FirstOpen=True),
             ("opened", None)),
    "Click": (postmark_record("Click", Recipient=RECIPIENT, ReceivedAt="2026-12-03T12:13:20Z",
                              OriginalLink="https://example.com/a", ClickLocation="HTML"), ("clicked", None)),
    **{f"SubscriptionChange {reason}": (postmark_record(
        "SubscriptionChange", Recipient=RECIPIENT, ChangedAt="2026-12-03T12:13:20Z", Origin="Recipient",
        SuppressSending=True, SuppressionReason=reason), ("dropped", suppresses))
       for reason, suppresses in {"HardBounce": "bounced", "SpamComplaint": "complained",
                                  "ManualSuppression": "unsubscribed"}.items()},
    "SubscriptionChange reactivated": (postmark_record(
        "SubscriptionChange", Recipient=RECIPIENT, ChangedAt="2026-12-03T12:13:20Z", Origin="Customer",
        SuppressSending=False, SuppressionReason=None), SKIPPED),
}

MESSAGE_IDS = {"mailgun": "<20261203113320.1.abc@mg.example.com>", "sendgrid": "LRzXl_NHStOGhQ4kofSm_A",
               "ses": "0100018f3a7b2c1d-1234abcd-0001-000000", "postmark": "883953f4-6105-42a2-a16a-77a8eac79483"}
ROWS = [(provider, name, payload, expected)
        for provider, table in {"mailgun": MAILGUN, "sendgrid": SENDGRID, "ses": SES, "postmark": POSTMARK}.items()
        for name, (payload, expected) in table.items()]


@pytest.fixture
def receive(mailgun, sendgrid, ses, postmark, sendgrid_signer, sns_signer):
    """Post one payload to its provider's verifier, signed as that provider signs."""

    def post(provider: str, payload: dict):
        if provider == "mailgun":
            return mailgun.receive(mailgun_post(payload), {}, NOW)
        if provider == "sendgrid":
            body, headers = sendgrid_post(sendgrid_signer, [payload])
            return sendgrid.receive(body, headers, NOW)
        if provider == "ses":
            return ses.receive(sns_notification(sns_signer, payload), {}, NOW)
        return postmark.receive(json_body(payload), postmark_headers(), NOW)

    return post


@pytest.mark.parametrize("provider, name, payload, expected", ROWS, ids=[f"{p}: {n}" for p, n, _, _ in ROWS])
def test_every_provider_event_maps_to_its_type(receive, provider, name, payload, expected):
    verdict = receive(provider, payload)
    assert isinstance(verdict, Accepted), verdict
    if expected is SKIPPED:
        assert verdict.events == () and verdict.skipped == 1
        return
    event, *others = verdict.events
    assert all(other.recipient != event.recipient for other in others)  # only SES's other destinations
    assert (event.type, event.suppresses) == expected
    assert event.provider == provider
    assert event.message_id == MESSAGE_IDS[provider]
    assert event.recipient == "alice@example.com"
    assert event.metadata == {"order": "A-17", "user_id": "42"}
    assert event.tags == ("welcome", "onboarding")
    assert event.occurred_at.startswith("2026-12-03T12:13:")
    assert event.id.startswith("ev_")


def test_the_table_covers_every_type():
    kept = {expected[0] for _, _, _, expected in ROWS if expected is not SKIPPED}
    assert kept == {"delivered", "bounced", "deferred", "dropped", "complained", "unsubscribed", "opened", "clicked"}
