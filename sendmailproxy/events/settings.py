"""The webhook settings (SMSP_MG_WEBHOOK_SIGNING_KEY, ...) and the webhooks they switch on."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..envreader import EnvReader
from .mailgun import MailgunWebhook
from .postmark import PostmarkWebhook
from .sendgrid import SendGridWebhook, load_public_key
from .ses import SesWebhook
from .sns import SnsVerifier
from .verdict import Webhook

DEFAULT_MAX_AGE_S = 129600  # 36 h: past every provider's retry window (SendGrid's 24 h is the longest)


@dataclass(frozen=True)
class WebhookSettings:
    """Each provider's webhook secret; a webhook is off (its route 404) until its secret is set."""

    mailgun_signing_key: str = field(default="", repr=False)
    sendgrid_public_key: str = ""  # public, but a wrong one refuses every event: validated at start
    ses_topic_arns: tuple[str, ...] = ()
    ses_cert_url_prefix: str = ""
    postmark_username: str = ""
    postmark_password: str = field(default="", repr=False)
    max_age: int = DEFAULT_MAX_AGE_S

    @classmethod
    def from_env(cls, env: EnvReader) -> "WebhookSettings":
        sendgrid_key = env.text("SMSP_SG_WEBHOOK_PUBLIC_KEY")
        if sendgrid_key:
            try:
                load_public_key(sendgrid_key)
            except ValueError:
                env.problem("SMSP_SG_WEBHOOK_PUBLIC_KEY must be the base64 DER ECDSA P-256 public key "
                            "SendGrid's Mail Settings show")
        prefix = env.text("SMSP_SES_SNS_CERT_URL_PREFIX")
        if prefix and (urlsplit(prefix).scheme != "https" or not urlsplit(prefix).netloc):
            env.problem(f"SMSP_SES_SNS_CERT_URL_PREFIX must be an https URL, not {prefix!r}")
        username, password = env.text("SMSP_PM_WEBHOOK_USERNAME"), env.text("SMSP_PM_WEBHOOK_PASSWORD")
        if bool(username) != bool(password):
            env.problem("SMSP_PM_WEBHOOK_USERNAME and SMSP_PM_WEBHOOK_PASSWORD are set together or not at all")
        if ":" in username:
            env.problem("SMSP_PM_WEBHOOK_USERNAME cannot contain ':' (Basic auth splits on it)")
        return cls(
            mailgun_signing_key=env.text("SMSP_MG_WEBHOOK_SIGNING_KEY"), sendgrid_public_key=sendgrid_key,
            ses_topic_arns=tuple(a.strip() for a in env.text("SMSP_SES_SNS_TOPIC_ARNS").split(",") if a.strip()),
            ses_cert_url_prefix=prefix, postmark_username=username, postmark_password=password,
            max_age=env.number("SMSP_WEBHOOK_MAX_AGE", DEFAULT_MAX_AGE_S, int, minimum=1))


def enabled_webhooks(settings: WebhookSettings) -> dict[str, Webhook]:
    """The webhooks whose secrets are configured, by provider name (the route /webhooks/<name>)."""
    webhooks = {}
    if settings.mailgun_signing_key:
        webhooks["mailgun"] = MailgunWebhook(settings.mailgun_signing_key, settings.max_age)
    if settings.sendgrid_public_key:
        webhooks["sendgrid"] = SendGridWebhook(load_public_key(settings.sendgrid_public_key), settings.max_age)
    if settings.ses_topic_arns:
        webhooks["ses"] = SesWebhook(settings.ses_topic_arns, SnsVerifier(settings.ses_cert_url_prefix),
                                     settings.max_age)
    if settings.postmark_username:
        webhooks["postmark"] = PostmarkWebhook(settings.postmark_username, settings.postmark_password)
    return webhooks
