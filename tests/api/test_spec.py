"""swagger.yaml: a valid OpenAPI document, served as JSON, that says exactly what the code does."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import validate
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec

import sendmailproxy
from sendmailproxy import schemafields
from sendmailproxy.docs import SPEC_PATH, load_spec
from sendmailproxy.schemas import EmailSchema

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec()
SCHEMAS = SPEC["components"]["schemas"]


def test_the_served_spec_is_valid_openapi_3_1_and_is_swagger_yaml(client):
    response = client.get("/swagger.json")  # no key needed
    assert response.status_code == 200
    served = response.get_json()
    validate_spec(served, cls=OpenAPIV31SpecValidator)
    assert served == yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def test_the_spec_ships_inside_the_package_and_shows_at_the_top():
    # An installed wheel has no repository around it: the spec is package data, beside the code.
    assert SPEC_PATH.parent == Path(sendmailproxy.__file__).parent
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "swagger.yaml" in setup["options.package_data"]["sendmailproxy"].split()
    top = ROOT / "swagger.yaml"  # where readers look for it: a link, so there is one file to edit
    assert top.is_symlink() and top.resolve() == SPEC_PATH.resolve()


def test_docs_shows_swagger_ui_for_the_served_spec_from_our_own_assets(app):
    client = FlaskClient(app)  # the assets are not API routes, so not for the spec-checking client
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '"url": "/swagger.json"' in html and "https://" not in html  # no CDN
    asset = client.get("/docs/swagger-ui-bundle.js")
    asset.close()  # a file response: close it, or the open file warns
    assert asset.status_code == 200 and asset.mimetype == "text/javascript"


def test_every_api_route_and_method_is_documented(app):
    # Swagger UI's asset files under /docs/ and Flask's own /static are the only routes left out.
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"
             and (not rule.endpoint.startswith("docs.") or rule.rule in ("/docs", "/swagger.json"))]
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in rules for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, operations in SPEC["paths"].items() for method in operations}
    assert routes == documented


def test_email_and_events_require_the_api_key_and_nothing_else_does():
    assert SPEC["paths"]["/email"]["post"]["security"] == [{"apiKey": []}]
    assert SPEC["paths"]["/events"]["get"]["security"] == [{"apiKey": []}]
    scheme = SPEC["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-KEY")
    assert "security" not in SPEC
    assert all("security" not in SPEC["paths"][path]["get"] for path in ("/healthcheck", "/swagger.json"))


def test_request_fields_match_the_schema():
    request = SCHEMAS["EmailRequest"]
    fields = EmailSchema().fields
    assert set(request["properties"]) == set(fields)
    assert set(request["required"]) == {name for name, field in fields.items() if field.required}
    assert request["additionalProperties"] is False
    assert SCHEMAS["Attachment"]["additionalProperties"] is False


@pytest.mark.parametrize("where, pattern", [
    (("Address",), schemafields.ADDRESS_PATTERN),
    (("SenderAddress",), schemafields.SENDER_PATTERN),
    (("EmailRequest", "properties", "tags", "items"), schemafields.TAG_PATTERN),
    (("Attachment", "properties", "contenttype"), schemafields.CONTENT_TYPE_PATTERN),
    (("Attachment", "properties", "filename"), schemafields.HEADER_TEXT_PATTERN),
    (("EmailRequest", "properties", "subject"), schemafields.HEADER_TEXT_PATTERN),
    (("Headers", "additionalProperties"), schemafields.HEADER_TEXT_PATTERN),
    (("Headers", "propertyNames"), schemafields.HEADER_NAME_PATTERN),
    (("Headers", "propertyNames", "not"), schemafields.RESERVED_HEADER_PATTERN),
    (("Metadata", "propertyNames"), schemafields.METADATA_KEY_PATTERN),
    (("Metadata", "propertyNames", "not", "anyOf", 0), schemafields.RESERVED_METADATA_KEY_PATTERN),
    (("Metadata", "additionalProperties"), schemafields.METADATA_VALUE_PATTERN),
])
def test_spec_patterns_are_the_code_patterns(where, pattern):
    node = SCHEMAS
    for key in where:
        node = node[key]
    assert node["pattern"] == pattern


def test_the_spec_reserves_the_metadata_keys_the_code_reserves():
    metadata = SCHEMAS["Metadata"]
    assert metadata["propertyNames"]["not"]["anyOf"][1]["enum"] == list(schemafields.RESERVED_METADATA_KEYS)
    assert metadata["maxProperties"] == schemafields.MAX_METADATA


@settings(max_examples=40, deadline=None)  # the pattern is big, so each example is slow to draw
@given(st.from_regex(schemafields.ADDRESS_PATTERN, fullmatch=True).filter(lambda text: len(text) <= 254))
def test_every_address_the_pattern_admits_is_one_marshmallow_accepts(text):
    address = schemafields.AddressField().deserialize(text)
    validate.Email()(address.email)
