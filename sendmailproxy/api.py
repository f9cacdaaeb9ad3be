"""The HTTP API: POST /email, GET /healthcheck and GET /swagger.json, and the hooks every request passes."""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from pathlib import Path

import yaml
from flask import Blueprint, Response, g, request
from marshmallow import ValidationError

from sendmailproxy import metrics
from sendmailproxy.dispatch import Dispatcher
from sendmailproxy.errors import SendError, ValidationFailedError
from sendmailproxy.intake import check_api_key, check_json_content_type, check_size, read_json_object
from sendmailproxy.logconfig import REQUEST_ID
from sendmailproxy.message import Message
from sendmailproxy.service import current_service

log = logging.getLogger(__name__)
blueprint = Blueprint("api", __name__)

SPEC_PATH = Path(__file__).resolve().parent.parent / "swagger.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
_SPEC_JSON = json.dumps(SPEC).encode()  # serialised once: serving the spec is a byte copy
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@blueprint.before_app_request
def begin_request() -> None:
    """Stamp the request with its id (the caller's if sane) and make sure this worker's prober runs."""
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(16)
    g.request_id_token = REQUEST_ID.set(g.request_id)
    g.attempts, g.accepted = 0, None
    current_service().prober.ensure_running()


@blueprint.after_app_request
def finish_request(response: Response) -> Response:
    """Return the request id and write the request's one summary line, which tells the accepted attempt too."""
    response.headers["X-Request-ID"] = g.request_id
    route = request.url_rule.rule if request.url_rule else "unmatched"  # bounded label values
    metrics.HTTP_REQUESTS.labels(route, request.method, response.status_code).inc()
    accepted = g.accepted
    log.info("request", extra={
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - g.started) * 1000, 1),
        "request_id": g.request_id,
        "client_ip": request.remote_addr,
        "attempts": g.attempts,
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
    idempotency_key = service.idempotency.key_of(request.headers.get("Idempotency-Key"))
    check_json_content_type()
    payload = read_json_object(service.config.max_body_bytes)
    try:
        message = service.schema.load(payload)
    except ValidationError as error:
        raise ValidationFailedError("The message is invalid; see errors.",
                                    body={"errors": error.messages}) from None
    if idempotency_key is None:
        return _deliver(service.dispatcher, message)
    return service.idempotency.send(api_key, idempotency_key, message,
                                    lambda before_attempt: _deliver(service.dispatcher, message, before_attempt))


def _deliver(dispatcher: Dispatcher, message: Message, before_attempt=None) -> dict:
    """Send, noting the provider and the attempts for the request log; the 200 body."""
    try:
        delivery = dispatcher.send(message, before_attempt)
    except SendError as error:
        g.attempts = len(error.attempts)
        raise
    g.attempts, g.accepted = len(delivery.attempts), delivery.accepted
    return {"provider": delivery.provider, "id": delivery.message_id}


@blueprint.get("/healthcheck", provide_automatic_options=False)
def healthcheck():
    """This worker's view of its providers and key store. Always 200: an outage is no reason to restart pods."""
    service = current_service()
    circuits = service.circuits.snapshot()
    alive = service.prober.is_alive()
    age = service.prober.heartbeat_age()
    now = time.monotonic()  # circuit times are monotonic clock readings
    store = service.idempotency.store
    store_reachable = None if store is None else store.reachable()
    return {
        "status": "ok" if alive and all(circuit.closed for circuit in circuits) and store_reachable is not False
        else "degraded",
        "pid": os.getpid(),
        "prober": {"alive": alive, "heartbeat_age_seconds": None if age is None else round(age, 3)},
        "idempotency": {"store": "off" if store is None else store.name, "reachable": store_reachable},
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
    }


@blueprint.get("/swagger.json", provide_automatic_options=False)
def swagger():
    """The OpenAPI description of this API."""
    return Response(_SPEC_JSON, mimetype="application/json")


@blueprint.get("/metrics", provide_automatic_options=False)
def prometheus_metrics():
    """Prometheus exposition of every worker's metrics."""
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
