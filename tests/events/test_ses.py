"""SES through SNS: both signature versions, the certificate URL rule, the topic list, confirmations, and the CA
and proxy settings the certificate fetch honours."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeproviders.signing import SnsSigner, json_body
from sendmailproxy.events.ses import SesWebhook, decode_tag_value, encode_tag_value
from sendmailproxy.events.sns import SnsVerifier
from sendmailproxy.events.verdict import Accepted, Refused

from .conftest import CERT_PATH, MAX_AGE, NOW, TOPIC, sns_notification
from .payloads import ses_bounce, ses_event

BOUNCE = ses_bounce("Permanent", "General", recipients=("Alice@Example.com", "bob@example.com", "carol@example.com"))


def assert_refused(verdict, status, reason=""):
    assert isinstance(verdict, Refused), verdict
    assert verdict.status == status and reason in verdict.reason, verdict


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_signature_versions_are_verified_and_each_recipient_is_one_event(ses, sns_signer, version):
    verdict = ses.receive(sns_notification(sns_signer, BOUNCE, version), {}, NOW)
    assert isinstance(verdict, Accepted)
    assert [e.recipient for e in verdict.events] == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert len({e.id for e in verdict.events}) == 3


def test_a_subject_is_signed_too(ses, sns_signer):
    body = sns_notification(sns_signer, BOUNCE, Subject="Amazon SES Email Event Notification")
    assert isinstance(ses.receive(body, {}, NOW), Accepted)
    assert_refused(ses.receive(body.replace(b"Amazon SES", b"Amazon XES"), {}, NOW), 401, "wrong signature")


@pytest.mark.parametrize("field, value", [
    ("Message", json.dumps(ses_bounce("Permanent", "General", recipients=("mallory@example.com",)))),
    ("MessageId", "sns-2"), ("Timestamp", "2026-12-03T12:13:21.000Z"),
    ("TopicArn", "arn:aws:sns:us-east-1:123456789012:smsp-other"), ("Type", "UnsubscribeConfirmation"),
])
@pytest.mark.parametrize("version", ["1", "2"])
def test_one_tampered_field_is_refused(ses, sns_signer, version, field, value):
    envelope = json.loads(sns_notification(sns_signer, BOUNCE, version))
    envelope[field] = value
    if field == "Type":  # a confirmation signs SubscribeURL and Token too: give them, so only the signature fails
        envelope.update(SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=x", Token="t")
    assert_refused(ses.receive(json_body(envelope), {}, NOW), 401, "wrong signature")


def test_a_signature_by_another_key_is_refused(ses, sns_signer):
    impostor = SnsSigner(sns_signer.cert_url)  # points at the real certificate, signs with its own key
    assert_refused(ses.receive(sns_notification(impostor, BOUNCE), {}, NOW), 401, "wrong signature")


@pytest.mark.parametrize("change, reason", [
    ({"Signature": None}, "no signature"), ({"SignatureVersion": "3"}, "SignatureVersion"),
    ({"SignatureVersion": None}, "SignatureVersion"),
    ({"SigningCertURL": "http://127.0.0.1/" + CERT_PATH}, "SigningCertURL"),
])
def test_unsigned_or_unknown_versions_are_refused(ses, sns_signer, change, reason):
    envelope = {**json.loads(sns_notification(sns_signer, BOUNCE)), **change}
    assert_refused(ses.receive(json_body({k: v for k, v in envelope.items() if v is not None}), {}, NOW),
                   401, reason)


@pytest.mark.parametrize("timestamp, reason", [("2026-12-02T00:13:19.000Z", "older than"),
                                               ("2026-12-03T12:18:21.000Z", "ahead")])
def test_stale_and_future_timestamps_are_refused(ses, sns_signer, timestamp, reason):
    assert_refused(ses.receive(sns_notification(sns_signer, BOUNCE, timestamp=timestamp), {}, NOW), 401, reason)


def test_a_topic_not_listed_is_refused_after_a_good_signature(ses, sns_signer):
    body = sns_notification(sns_signer, BOUNCE, topic="arn:aws:sns:us-east-1:999999999999:attacker")
    assert_refused(ses.receive(body, {}, NOW), 401, "TopicArn")


@pytest.mark.parametrize("url", [
    "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
    "https://s3.amazonaws.com/SimpleNotificationService-abc.pem",
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com/other-abc.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem/../x.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-abc.pem",
    "https://evil.example/?https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?redirect=https://evil.example/",
])
def test_certificate_urls_off_sns_hosts_are_refused_without_a_fetch(cert_server, sns_signer, url):
    webhook = SesWebhook((TOPIC,), SnsVerifier(), MAX_AGE)  # the SNS host rule, no prefix
    envelope = {**json.loads(sns_notification(sns_signer, BOUNCE)), "SigningCertURL": url}
    gets = cert_server.gets
    assert_refused(webhook.receive(json_body(envelope), {}, NOW), 401, "SigningCertURL")
    assert cert_server.gets == gets


@pytest.mark.parametrize("url", [
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc123.pem",
])
def test_sns_certificate_urls_are_trusted(url):
    assert SnsVerifier().trusted(url, certificate=True)


def test_a_prefix_replaces_the_host_rule_but_stays_https(cert_server):
    verifier = SnsVerifier(cert_server.prefix)
    assert verifier.trusted(cert_server.prefix + "any.pem", certificate=True)
    assert not verifier.trusted(cert_server.prefix.replace("https", "http") + "any.pem", certificate=True)
    assert not verifier.trusted("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-a.pem", True)


def _confirmation(signer, subscribe_url, topic=TOPIC):
    envelope = {"Type": "SubscriptionConfirmation", "MessageId": "sns-c", "Token": "2336412f37fb",
                "TopicArn": topic, "Message": "You have chosen to subscribe to the topic ...",
                "SubscribeURL": subscribe_url, "Timestamp": "2026-12-03T12:13:20.000Z"}
    return json_body(signer.sign(envelope, "2"))


def test_a_subscription_confirmation_returns_its_url_to_get(ses, sns_signer, cert_server):
    url = cert_server.prefix + "?Action=ConfirmSubscription&Token=2336412f37fb"
    assert ses.receive(_confirmation(sns_signer, url), {}, NOW) == Accepted((), confirm_url=url)


@pytest.mark.parametrize("url", ["https://evil.example/?Action=ConfirmSubscription",
                                 "http://127.0.0.1/?Action=ConfirmSubscription"])
def test_a_subscription_confirmation_elsewhere_is_refused(ses, sns_signer, url):
    assert_refused(ses.receive(_confirmation(sns_signer, url), {}, NOW), 401, "SubscribeURL")


def test_a_subscription_confirmation_from_a_topic_not_listed_is_refused(ses, sns_signer, cert_server):
    body = _confirmation(sns_signer, cert_server.prefix + "?Action=x", topic="arn:aws:sns:us-east-1:9:other")
    assert_refused(ses.receive(body, {}, NOW), 401, "TopicArn")


def test_sns_subscribe_urls_are_trusted_on_sns_hosts_only():
    verifier = SnsVerifier()
    assert verifier.trusted("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x")
    assert not verifier.trusted("https://s3.amazonaws.com/?Action=ConfirmSubscription&Token=x")


def test_certificates_are_cached(cert_server, sns_signer):
    webhook = SesWebhook((TOPIC,), SnsVerifier(cert_server.prefix), MAX_AGE)
    gets = cert_server.gets
    for message_id in ("a", "b", "c"):
        assert isinstance(webhook.receive(sns_notification(sns_signer, BOUNCE, message_id=message_id), {}, NOW),
                          Accepted)
    assert cert_server.gets == gets + 1


def test_the_certificate_is_fetched_with_requests_ca_bundle_before_ssl_cert_file(monkeypatch, ses, sns_signer):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")  # not our test CA
    assert_refused(ses.receive(sns_notification(sns_signer, BOUNCE), {}, NOW), 503, "SSLError")


def test_the_certificate_is_fetched_through_https_proxy(monkeypatch, ses, sns_signer):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens: the fetch fails there
    assert_refused(ses.receive(sns_notification(sns_signer, BOUNCE), {}, NOW), 503, "ProxyError")


def test_a_certificate_url_that_answers_404_is_a_503(cert_server, sns_signer):
    signer = SnsSigner(cert_server.prefix + "SimpleNotificationService-missing.pem")
    assert_refused(SesWebhook((TOPIC,), SnsVerifier(cert_server.prefix), MAX_AGE).receive(
        sns_notification(signer, BOUNCE), {}, NOW), 503, "HTTP 404")


def test_unsubscribe_confirmations_are_accepted_with_nothing_to_store(ses, sns_signer, cert_server):
    envelope = {"Type": "UnsubscribeConfirmation", "MessageId": "sns-u", "Token": "t", "TopicArn": TOPIC,
                "Message": "unsubscribed", "SubscribeURL": cert_server.prefix + "?Action=x",
                "Timestamp": "2026-12-03T12:13:20.000Z"}
    assert ses.receive(json_body(sns_signer.sign(envelope)), {}, NOW) == Accepted(())


@pytest.mark.parametrize("make", [
    lambda s: sns_notification(s, BOUNCE)[:-10],
    lambda s: b"[]",
    lambda s: json_body(s.sign({"Type": "Notification", "MessageId": "m", "TopicArn": TOPIC, "Message": "not json",
                                "Timestamp": "2026-12-03T12:13:20.000Z"})),
    lambda s: sns_notification(s, {"eventType": "Bounce", "mail": {"destination": []}}),
    lambda s: json_body({"Type": "Notification"}),
    lambda s: json_body({**json.loads(sns_notification(s, BOUNCE)), "Type": "Surprise"}),
], ids=["truncated", "an array", "Message not JSON", "bounce without fields", "no fields", "unknown Type"])
def test_malformed_bodies_are_refused_with_400(ses, sns_signer, make):
    assert_refused(ses.receive(make(sns_signer), {}, NOW), 400)


def test_a_meta_tag_we_did_not_encode_comes_back_as_it_is(ses, sns_signer):
    event = ses_bounce("Permanent", "General")
    event["mail"]["tags"]["meta-campaign"] = ["spring_sale"]  # "_s" is no escape of ours
    bounced, = ses.receive(sns_notification(sns_signer, event), {}, NOW).events
    assert bounced.metadata["campaign"] == "spring_sale" and bounced.metadata["order"] == "A-17"


def test_notifications_carry_no_tags_and_give_none(ses, sns_signer):
    event = ses_event("Delivery", "delivery", {"timestamp": "2026-12-03T12:13:20.000Z",
                                               "recipients": ["alice@example.com"]}, style="notificationType")
    del event["mail"]["tags"]
    delivered, = ses.receive(sns_notification(sns_signer, event), {}, NOW).events
    assert (delivered.metadata, delivered.tags) == ({}, ())


@pytest.mark.parametrize("value, encoded", [("A-17", "A-17"), ("user_id", "user__id"), ("a b/c", "a_20b_2Fc"),
                                            ("_X", "__X"), ("~", "_7E")])
def test_tag_values_encode_into_ses_charset(value, encoded):
    assert encode_tag_value(value) == encoded and decode_tag_value(encoded) == value


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
def test_every_printable_ascii_value_comes_back_exactly(value):
    encoded = encode_tag_value(value)
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in encoded)
    assert decode_tag_value(encoded) == value


@pytest.mark.parametrize("text", ["_", "_7", "_zz", "a_b"])
def test_texts_the_encoder_cannot_make_do_not_decode(text):
    with pytest.raises(ValueError):
        decode_tag_value(text)
