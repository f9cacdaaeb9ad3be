"""Each fake posts its provider's real webhook for a message it recorded, verified here by the service's own
verifiers (real signatures: Mailgun's HMAC, SendGrid's ECDSA, SNS's RSA with the certificate fetched over
HTTPS from the fake, Postmark's Basic auth)."""
import time

import pytest
import requests

from fakeproviders import FAKES
from fakeproviders.client import FakeProvidersError
from fakeproviders.signing import SendGridSigner
from sendmailproxy.events.mailgun import MailgunWebhook
from sendmailproxy.events.postmark import PostmarkWebhook
from sendmailproxy.events.sendgrid import SendGridWebhook, load_public_key
from sendmailproxy.events.settings import WebhookSettings, enabled_webhooks
from sendmailproxy.events.ses import SesWebhook, encode_tag_value
from sendmailproxy.events.sns import SnsVerifier, ca_bundle
from sendmailproxy.events.verdict import Accepted
from testkit.webhookreceiver import Receiver

MAX_AGE = 129600


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fresh_receiver(receiver):
    receiver.posts.clear()
    receiver.status = 200


@pytest.fixture
def fake_ca(monkeypatch, fake):
    """Trust the fakes' CA as the service would (SSL_CERT_FILE), and no proxy."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", fake.options["smtp_ca_file"])


def received(receiver, webhook):
    """Every captured POST through `webhook`, each of which must be accepted; their events in order."""
    events = []
    for _, headers, body in receiver.posts:
        verdict = webhook.receive(body, headers, time.time())
        assert isinstance(verdict, Accepted), verdict
        events.extend(verdict.events)
    return events


def test_the_fake_mailgun_posts_signed_events_for_each_recipient(fake, receiver, mailgun, mailgun_form):
    sent = mailgun(mailgun_form(to="Ann <Ann@example.com>, bob@example.com", **{"o:tag": "welcome",
                                                                                  "v:order": "A-17"})).json()
    answers = fake.control.post_webhook(receiver.url + "mailgun", sent["id"], "bounce")
    assert [a["status"] for a in answers] == [200, 200]
    events = received(receiver, MailgunWebhook(fake.control.webhook_keys()["mailgun"]["signing_key"], MAX_AGE))
    assert [(e.type, e.recipient, e.message_id) for e in events] == [
        ("bounced", "ann@example.com", sent["id"]), ("bounced", "bob@example.com", sent["id"])]
    assert events[0].metadata == {"order": "A-17"} and events[0].tags == ("welcome",)
    wrong_key = MailgunWebhook("another-key", MAX_AGE).receive(receiver.posts[0][2], {}, time.time())
    assert wrong_key.status == 401


def test_the_fake_mailgun_repeats_a_post_with_its_token(fake, receiver, mailgun, mailgun_form):
    sent = mailgun(mailgun_form()).json()
    fake.control.post_webhook(receiver.url + "mailgun", sent["id"], "delivered", repeat=2)
    webhook = MailgunWebhook(fake.options["mailgun_webhook_key"], MAX_AGE)
    verdicts = [webhook.receive(body, headers, time.time()) for _, headers, body in receiver.posts]
    assert verdicts[0] == verdicts[1] and verdicts[0].nonce is not None


def test_the_fake_sendgrid_batches_events_and_posts_the_batch_again(fake, receiver, sendgrid, sendgrid_payload):
    sent = sendgrid(sendgrid_payload(custom_args={"order": "A-17"}, categories=["welcome"]))
    message_id = sent.headers["X-Message-Id"]
    fake.control.post_webhook(receiver.url + "sendgrid", message_id, events=["processed", "delivered", "open",
                                                                              "dropped_bounced_address"], repeat=3)
    assert len(receiver.posts) == 3 and len({body for _, _, body in receiver.posts}) == 1
    webhook = SendGridWebhook(load_public_key(fake.control.webhook_keys()["sendgrid"]["public_key"]), MAX_AGE)
    events = received(receiver, webhook)
    assert [(e.type, e.suppresses) for e in events[:3]] == [("delivered", None), ("opened", None),
                                                              ("dropped", "bounced")]
    assert len({e.id for e in events}) == 3  # three posts of one batch: three events, each thrice
    assert {(e.message_id, e.recipient) for e in events} == {(message_id, "rcpt@example.com")}
    assert events[0].metadata == {"order": "A-17"} and events[0].tags == ("welcome",)


@pytest.mark.parametrize("version", ["1", "2"])
def test_the_fake_ses_posts_sns_notifications_signed_with_its_certificate(fake, fake_ca, receiver, ses, ses_payload,
                                                                         version):
    tags = [{"Name": "tag1", "Value": "welcome"}, {"Name": "meta-order", "Value": encode_tag_value("A_17 x")}]
    destination = {"ToAddresses": ["Rcpt <rcpt@example.com>", "ann@example.com"]}
    message_id = ses(ses_payload(EmailTags=tags, Destination=destination)).json()["MessageId"]
    fake.control.post_webhook(receiver.url + "ses", message_id, events=["complaint", "send"],
                              signature_version=version)
    assert all(headers["Content-Type"].startswith("text/plain") for _, headers, _ in receiver.posts)
    keys = fake.control.webhook_keys()["ses"]
    assert keys["cert_url_prefix"] == fake.options["ses_cert_url_prefix"]
    webhook = SesWebhook((keys["topic_arn"],), SnsVerifier(keys["cert_url_prefix"]), MAX_AGE)
    events = received(receiver, webhook)
    assert [(e.type, e.recipient, e.message_id) for e in events] == [
        ("complained", "rcpt@example.com", message_id), ("complained", "ann@example.com", message_id)]
    assert events[0].metadata == {"order": "A_17 x"} and events[0].tags == ("welcome",)
    other_topic = SesWebhook(("arn:aws:sns:us-east-1:1:other",), SnsVerifier(keys["cert_url_prefix"]), MAX_AGE)
    assert other_topic.receive(receiver.posts[0][2], {}, time.time()).status == 401


def test_the_fake_sns_subscribes_an_endpoint_that_confirms_by_its_subscribe_url(fake, fake_ca, receiver):
    assert fake.control.subscribe(receiver.url + "ses", signature_version="2")["status"] == 200
    keys = fake.control.webhook_keys()["ses"]
    webhook = SesWebhook((keys["topic_arn"],), SnsVerifier(keys["cert_url_prefix"]), MAX_AGE)
    (_, headers, body), = receiver.posts
    verdict = webhook.receive(body, headers, time.time())
    assert isinstance(verdict, Accepted) and verdict.events == () and verdict.confirm_url
    assert fake.control.confirmed_subscriptions() == []
    assert requests.get(verdict.confirm_url, timeout=10, verify=ca_bundle()).status_code == 200
    assert requests.get(verdict.confirm_url, timeout=10, verify=ca_bundle()).status_code == 404  # a token confirms once
    assert fake.control.confirmed_subscriptions() == [receiver.url + "ses"]


def test_the_fake_postmark_posts_with_the_credentials_given(fake, receiver, postmark, postmark_payload):
    sent = postmark(postmark_payload(Tag="welcome", Metadata={"tag1": "welcome", "order": "A-17"})).json()
    fake.control.post_webhook(receiver.url + "postmark", sent["MessageID"], "unsubscribe", username="pm",
                              password="pm-secret")
    events = received(receiver, PostmarkWebhook("pm", "pm-secret"))
    assert [(e.type, e.suppresses, e.message_id) for e in events] == [("dropped", "unsubscribed", sent["MessageID"])]
    assert events[0].metadata == {"order": "A-17"} and events[0].tags == ("welcome",)
    assert PostmarkWebhook("pm", "other").receive(receiver.posts[0][2], receiver.posts[0][1], 0).status == 401


def test_every_provider_with_a_webhook_has_a_fake_that_posts_it():
    settings = WebhookSettings(mailgun_signing_key="k", sendgrid_public_key=SendGridSigner().public_key,
                               ses_topic_arns=("arn:aws:sns:us-east-1:1:t",), postmark_username="u",
                               postmark_password="p")
    webhooks = enabled_webhooks(settings)
    assert sorted(webhooks) == ["mailgun", "postmark", "sendgrid", "ses"]
    assert all(hasattr(FAKES[name], "webhook_posts") for name in webhooks)


def test_the_receivers_answers_come_back(fake, receiver, mailgun, mailgun_form):
    receiver.status = 406
    sent = mailgun(mailgun_form()).json()
    assert [a["status"] for a in fake.control.post_webhook(receiver.url, sent["id"], "delivered")] == [406]


@pytest.mark.parametrize("params, error", [
    ({"message_id": "<nope@mg.example.com>", "event": "delivered"}, "404"),
    ({"event": "no_such_event"}, "no mailgun event"),
    ({"event": "delivered", "recipient": "stranger@example.com"}, "not a recipient"),
    ({"event": "delivered", "repeat": 0}, "repeat"),
    ({"event": "delivered", "colour": "red"}, "colour"),
])
def test_bad_webhook_requests_are_refused(fake, receiver, mailgun, mailgun_form, params, error):
    sent = mailgun(mailgun_form()).json()
    with pytest.raises(FakeProvidersError, match=error):
        fake.control.post_webhook(receiver.url, **{"message_id": sent["id"], **params})
    assert receiver.posts == []
