"""POST /webhooks/<provider>: a provider's delivery events in, verified, stored once each, recipients suppressed.

No X-API-KEY: each provider authenticates its own way (sendmailproxy/events/), and a route is off (404) until its
secret is set. The answers follow what providers retry: 2xx when every event is stored or already was (a retry
adds nothing), 401 authentication failed, 400 malformed, 413 too large (nothing of those is stored, and a retry
would fail the same way), 503 when the store or SNS cannot be reached (the provider retries later). Mailgun
takes 406 as "do not retry"; we answer it 401 anyway: a refused signature is most often our side's wrong or
rotated key, and Mailgun's 8 h of retries then deliver the events once the key is fixed.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Blueprint, request

from sendmailproxy import metrics
from sendmailproxy.errors import ApiError, PayloadTooLargeError
from sendmailproxy.events.sns import CERT_TIMEOUT_S, ca_bundle
from sendmailproxy.events.store import NonceReused
from sendmailproxy.events.verdict import Refused
from sendmailproxy.intake import check_size, read_body
from sendmailproxy.recording import record
from sendmailproxy.service import current_service
from sendmailproxy.store import StoreUnavailableError

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

PROVIDERS = ("mailgun", "sendgrid", "ses", "postmark")  # one route each (events.settings.enabled_webhooks' names)
RESULT_OF_STATUS = {400: "malformed", 401: "refused_auth", 503: "upstream_error"}  # a verifier's Refused


class WebhookRefusedError(ApiError):
    """A webhook POST that stored nothing; `result` is its smsp_webhook_requests label."""

    def __init__(self, status: int, message: str, result: str, headers: dict | None = None):
        super().__init__(message, headers=headers)
        self.status, self.result = status, result


def receive(provider: str):
    """Verify one provider's POST, store its events and suppress their recipients; answer how many were new."""
    try:
        answer, result = _receive(provider)
    except WebhookRefusedError as refused:
        metrics.WEBHOOK_REQUESTS.labels(provider, refused.result).inc()
        log.warning("webhook refused", extra={"provider": provider, "status": refused.status,
                                               "result": refused.result, "reason": refused.message})
        raise
    metrics.WEBHOOK_REQUESTS.labels(provider, result).inc()
    log.info("webhook", extra={"provider": provider, "result": result, **answer})
    return answer


def _receive(provider: str) -> tuple[dict, str]:
    service = current_service()
    webhook = service.webhooks.get(provider)
    if webhook is None:
        raise WebhookRefusedError(404, f"The {provider} webhook is off: its secret is not configured.", "off")
    try:
        check_size(service.config.max_body_bytes)
        body = read_body(service.config.max_body_bytes)  # raw: signatures cover bytes, and SNS posts text/plain
    except PayloadTooLargeError as error:
        raise WebhookRefusedError(error.status, error.message, "too_large", error.headers) from None
    verdict = webhook.receive(body, request.headers, time.time())
    if isinstance(verdict, Refused):
        raise WebhookRefusedError(verdict.status, f"Refused: {verdict.reason}.", RESULT_OF_STATUS[verdict.status])
    if verdict.confirm_url:
        _confirm_subscription(verdict.confirm_url)
        return {"received": 0, "stored": 0}, "confirmed"
    nonce = None if verdict.nonce is None else (verdict.nonce.token, verdict.nonce.body_sha256)
    try:
        outcome = record(service.events, service.suppressions, verdict.events, nonce)
    except StoreUnavailableError as error:
        log.error("webhook events not stored: the store is unavailable", extra={"error": str(error)})
        raise WebhookRefusedError(503, "The event store is unavailable; send the events again later.",
                                  "store_error") from None
    if isinstance(outcome, NonceReused):
        raise WebhookRefusedError(401, "Refused: this webhook token was already used with another body.",
                                  "refused_auth")
    received, stored = len(verdict.events), len(outcome.new)
    result = "stored" if stored else "duplicate" if received else "ignored"
    return {"received": received, "stored": stored}, result


def _confirm_subscription(url: str) -> None:
    """GET an SNS SubscribeURL (the verifier checked its host) as the certificate fetch does: Session.request, so
    HTTPS_PROXY applies, the process's CAs, a timeout, no redirects. A failure is a 503: SNS sends it again."""
    try:
        with requests.Session() as session:
            status = session.request("GET", url, timeout=CERT_TIMEOUT_S, allow_redirects=False,
                                     verify=ca_bundle()).status_code
    except requests.RequestException as error:
        status = type(error).__name__
    if status != 200:
        raise WebhookRefusedError(503, f"Could not confirm the SNS subscription (SubscribeURL: {status}).",
                                  "upstream_error")
    # The topic, never the URL: its token confirms the subscription for whoever holds it.
    log.info("SNS subscription confirmed", extra={"topic_arn": parse_qs(urlsplit(url).query).get("TopicArn")})


for _provider in PROVIDERS:
    # One rule per provider, so the spec lists each path and any other name is the router's plain 404.
    blueprint.add_url_rule(f"/webhooks/{_provider}", f"receive_{_provider}", receive, methods=["POST"],
                           defaults={"provider": _provider}, provide_automatic_options=False)
