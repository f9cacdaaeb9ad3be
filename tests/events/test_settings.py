"""WebhookSettings from the environment: each webhook off until its secret is set, bad values as problems."""
import pytest

from fakeproviders.signing import SendGridSigner
from sendmailproxy.envreader import EnvReader
from sendmailproxy.events.settings import WebhookSettings, enabled_webhooks


def read(**environ):
    env = EnvReader(environ)
    return WebhookSettings.from_env(env), env.problems


def test_nothing_configured_enables_no_webhook():
    settings, problems = read()
    assert problems == [] and enabled_webhooks(settings) == {} and settings.max_age == 129600


def test_each_secret_enables_its_webhook():
    settings, problems = read(SMSP_MG_WEBHOOK_SIGNING_KEY="mg-key",
                              SMSP_SG_WEBHOOK_PUBLIC_KEY=SendGridSigner().public_key,
                              SMSP_SES_SNS_TOPIC_ARNS=" arn:aws:sns:us-east-1:1:a , arn:aws:sns:eu-west-1:1:b ",
                              SMSP_SES_SNS_CERT_URL_PREFIX="https://sns.internal.example/certs/",
                              SMSP_PM_WEBHOOK_USERNAME="pm", SMSP_PM_WEBHOOK_PASSWORD="pm-secret",
                              SMSP_WEBHOOK_MAX_AGE="3600")
    assert problems == []
    assert sorted(enabled_webhooks(settings)) == ["mailgun", "postmark", "sendgrid", "ses"]
    assert settings.ses_topic_arns == ("arn:aws:sns:us-east-1:1:a", "arn:aws:sns:eu-west-1:1:b")
    assert settings.max_age == 3600


def test_secrets_stay_out_of_the_repr():
    settings, _ = read(SMSP_MG_WEBHOOK_SIGNING_KEY="mg-key-secret", SMSP_PM_WEBHOOK_USERNAME="pm",
                       SMSP_PM_WEBHOOK_PASSWORD="pm-secret")
    assert "mg-key-secret" not in repr(settings) and "pm-secret" not in repr(settings)


@pytest.mark.parametrize("environ, problem", [
    ({"SMSP_SG_WEBHOOK_PUBLIC_KEY": "not a key"}, "SMSP_SG_WEBHOOK_PUBLIC_KEY"),
    ({"SMSP_SES_SNS_CERT_URL_PREFIX": "http://sns.internal.example/"}, "SMSP_SES_SNS_CERT_URL_PREFIX"),
    ({"SMSP_PM_WEBHOOK_USERNAME": "pm"}, "set together"),
    ({"SMSP_PM_WEBHOOK_PASSWORD": "pm-secret"}, "set together"),
    ({"SMSP_PM_WEBHOOK_USERNAME": "p:m", "SMSP_PM_WEBHOOK_PASSWORD": "x"}, "':'"),
    ({"SMSP_WEBHOOK_MAX_AGE": "0"}, "SMSP_WEBHOOK_MAX_AGE"),
    ({"SMSP_WEBHOOK_MAX_AGE": "a day"}, "SMSP_WEBHOOK_MAX_AGE"),
])
def test_bad_values_are_problems(environ, problem):
    _, problems = read(**environ)
    assert len(problems) == 1 and problem in problems[0]
