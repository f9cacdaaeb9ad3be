"""GET /swagger.json, the API's OpenAPI description, and GET /docs, Swagger UI to read it (no CDN)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import yaml
from flask import Blueprint, Response
from flask_swagger_ui import get_swaggerui_blueprint

SPEC_PATH = Path(__file__).with_name("swagger.yaml")  # package data: it ships in the wheel and the image


def load_spec() -> dict:
    """The OpenAPI description of this API."""
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@functools.cache
def _spec_json() -> bytes:
    # Parsed once per process (YAML is slow to read) and serialised once: serving the spec is a byte copy.
    return json.dumps(load_spec()).encode()


def build_blueprint() -> Blueprint:
    """The docs blueprint of a new app; the spec is read here, so a missing one fails at start, not on a request."""
    spec_json = _spec_json()
    blueprint = Blueprint("docs", __name__)

    @blueprint.get("/swagger.json", provide_automatic_options=False)
    def swagger():
        """The OpenAPI description of this API."""
        return Response(spec_json, mimetype="application/json")

    # Swagger UI's assets come from the flask-swagger-ui package.
    ui = get_swaggerui_blueprint(
        "/docs",
        "/swagger.json",
        config={
            "app_name": "sendmailproxy API",
            # The default validator badge loads an image from validator.swagger.io, telling it our spec's URL.
            "validatorUrl": None,
            "layout": "BaseLayout",  # no top bar inviting visitors to load some other spec
        },
        blueprint_name="ui",
    )
    # Serve /docs itself rather than werkzeug's redirect to /docs/, whose absolute Location says http:// behind
    # a TLS-terminating proxy.
    ui.add_url_rule("", endpoint="show")
    blueprint.register_blueprint(ui)
    return blueprint
