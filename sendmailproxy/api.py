"""The HTTP API: POST /email, GET /healthcheck and GET /metrics, the hooks every request passes, and its answers."""
from __future__ import annotations

import logging
import os
import re
import secrets
import time

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from sendmailproxy import metrics
from sendmailproxy.dispatch import Delivery
from sendmailproxy.errors import (
    ApiError,
    RecipientsSuppressedError,
    SuppressionStoreUnavailableError,
    ValidationFailedError,
)
from sendmailproxy.idempotency import Replay
from sendmailproxy.intake import (
    check_api_key,
    check_json_content_type,
    check_size,
    idempotency_key,
    read_json_object,
)
from sendmailproxy.logconfig import REQUEST_ID
from sendmailproxy.message import Message
from sendmailproxy.service import Service, current_service
from sendmailproxy.suppression.check import SKIP, Screened, screen

log = logging.getLogger(__name__)
blueprint = Blueprint("api", __name__)

REPLAYED = "Idempotent-Replayed"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@blueprint.before_app_request
def begin_request() -> None:
    """Stamp the request with its id (the caller's if sane) and make sure this worker's prober and sender run."""
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(16)
    g.request_id, g.request_id_token = request_id, REQUEST_ID.set(request_id)
    service = current_service()
    service.prober.ensure_running()
    if service.sender is not None:
        service.sender.ensure_running()


@blueprint.after_app_request
def finish_request(response: Response) -> Response:
    """Return the request id and write the request's one summary line, which tells the accepted attempt too."""
    # Each use of `request` or `g` looks the context up again; this hook runs on every request, so once each.
    served, stamp = request._get_current_object(), g._get_current_object()
    response.headers["X-Request-ID"] = stamp.request_id
    route = served.url_rule.rule if served.url_rule else "unmatched"  # bounded label values
    metrics.labelled(metrics.HTTP_REQUESTS, route, metrics.method_label(served.method), response.status_code).inc()
    result = stamp.get("result")  # what _respond answered with, if it did
    accepted = result.accepted if isinstance(result, Delivery) else None
    log.info("request", extra={
        "method": served.method,
        "path": served.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - stamp.started) * 1000, 1),
        "request_id": stamp.request_id,
        "client_ip": served.remote_addr,
        "attempts": len(getattr(result, "attempts", ())),  # a Delivery's or a SendError's
        # The accepted attempt has no line of its own (dispatch.py): it is told here.
        "provider": accepted.provider if accepted else None,
        "provider_status": accepted.outcome.status if accepted else None,
        "provider_ms": round(accepted.seconds * 1000, 1) if accepted else None,
    })
    return response


@blueprint.teardown_app_request
def end_request(error: BaseException | None) -> None:
    """Unset the request id so nothing logged after this request carries it."""
    token = g.pop("request_id_token", None)
    if token is not None:
        REQUEST_ID.reset(token)


# Routes take no automatic OPTIONS: this API has no browser clients to preflight, and an unlisted
# method should get the same JSON 405 as any other.
@blueprint.post("/email", provide_automatic_options=False)
def send_email():
    """Check, validate and send one message through the first provider that takes it; once per Idempotency-Key."""
    service = current_service()
    check_size(service.config.max_body_bytes)  # the order of these checks is part of the contract
    api_key = request.headers.get("X-API-KEY")
    check_api_key(api_key, service.config.api_keys)
    key = idempotency_key(service.idempotency.enabled)
    check_json_content_type()
    payload = read_json_object(service.config.max_body_bytes)
    try:
        message = service.schema.load(payload)
    except ValidationError as error:
        raise ValidationFailedError("The message is invalid; see errors.",
                                    body={"errors": error.messages}) from None
    try:  # before any provider is chosen: a listed recipient gets nothing from any of them
        screened = _screen(service, message, payload.get("suppressed") == SKIP)
    except (RecipientsSuppressedError, SuppressionStoreUnavailableError) as refusal:
        if key is None:
            raise
        return _respond(service.idempotency.refuse(api_key, key, message, refusal))
    if key is None:
        return _respond(service.dispatcher.send(screened.message, skipped=screened.skipped))
    return _respond(service.idempotency.send(api_key, key, screened.message, service.dispatcher,
                                             requested=message, skipped=screened.skipped))


def _screen(service: Service, message: Message, skip: bool) -> Screened:
    """The message as the suppression list lets it go (SMSP_SUPPRESSION=off: as it is, with no lookup)."""
    config = service.config
    if not config.suppression:
        return Screened(message)
    return screen(service.suppressions, message, skip=skip, fail_open=config.suppression_on_store_error == "send")


@blueprint.app_errorhandler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    """Our errors, raised anywhere in a request, are answered like any other result."""
    return _respond(error)


def _respond(result: Delivery | Replay | ApiError) -> Response:
    """The one place a send's result or an error becomes a response; the request line reads the result back."""
    g.result = result
    match result:
        case Delivery():
            return jsonify(result.payload())
        case Replay(status, body_json):
            return Response(body_json, status, {REPLAYED: "true"}, mimetype="application/json")
        case ApiError():
            return _error_response(result.status, result.payload(), result.headers)


@blueprint.app_errorhandler(HTTPException)
def handle_http_exception(error: HTTPException) -> Response:
    """werkzeug's 404, 405 and the like, in our JSON shape rather than HTML."""
    headers = dict(error.get_headers())
    headers.pop("Content-Type", None)
    return _error_response(error.code or 500, {"message": error.description or error.name}, headers)


@blueprint.app_errorhandler(Exception)
def handle_unexpected(error: Exception) -> Response:
    """A bug: logged with its traceback, answered with a bare 500 that shows nothing of it."""
    log.exception("unhandled error")
    return _error_response(500, {"message": "Internal server error."})


def _error_response(status: int, payload: dict, headers: dict | None = None) -> Response:
    """The one JSON error shape: `{"message": ...}` plus any detail."""
    response = jsonify(payload)
    response.status_code = status
    response.headers.update(headers or {})
    return response


@blueprint.get("/healthcheck", provide_automatic_options=False)
def healthcheck():
    """This worker's view of its providers and stores. Always 200: an outage is no reason to restart pods."""
    service = current_service()
    circuits = service.circuits.snapshot()
    alive = service.prober.is_alive()
    age = service.prober.heartbeat_age()
    now = time.monotonic()  # circuit times are monotonic clock readings
    store = service.idempotency.store
    store_reachable = None if store is None else store.reachable()
    events_reachable = service.events.reachable()  # the suppression list's too: one backend holds both
    push = None if service.sender is None else _push_health(service.sender)
    healthy = (alive and all(circuit.closed for circuit in circuits) and store_reachable is not False
               and events_reachable)
    return {
        "status": "ok" if healthy and (push is None or push["alive"]) else "degraded",
        "pid": os.getpid(),
        "prober": {"alive": alive, "heartbeat_age_seconds": None if age is None else round(age, 3)},
        "idempotency": {"store": "off" if store is None else store.name, "reachable": store_reachable},
        "events": {"store": service.events.name, "reachable": events_reachable},
        "circuits": {
            circuit.provider: {
                "state": circuit.state.value,
                "seconds_in_state": round(now - circuit.since, 3),
                "generation": circuit.generation,
                "consecutive_failures": circuit.failures,
                "last_failure": circuit.last_failure,
                "last_reason": circuit.last_reason or None,
                "probes": circuit.probes,
            }
            for circuit in circuits
        },
        "push": push,
    }


def _push_health(sender) -> dict:
    """The push thread's heartbeat and the backlog it works through (None when the store does not answer)."""
    age, backlog = sender.heartbeat_age(), sender.backlog()
    return {"alive": sender.is_alive(), "heartbeat_age_seconds": None if age is None else round(age, 3),
            "backlog": None if backlog is None else {"waiting": backlog.waiting,
                                                     "oldest_age_seconds": round(backlog.oldest_age, 3)}}


@blueprint.get("/metrics", provide_automatic_options=False)
def prometheus_metrics():
    """Prometheus exposition of every worker's metrics."""
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
