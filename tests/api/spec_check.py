"""Check responses (and request bodies) against swagger.yaml: OpenAPI 3.1, whose schemas are JSON Schema 2020-12."""
from __future__ import annotations

import re

import jsonschema
from jsonschema.validators import extend
from werkzeug.test import TestResponse

from sendmailproxy.docs import load_spec

SPEC = load_spec()


def _ecma_pattern(validator, pattern: str, instance, schema):
    # JSON Schema patterns are ECMA-262, where a closing `$` is the end of the string; Python's `$` also
    # matches before a final newline, so "a@example.com\n" would pass an address pattern.
    if validator.is_type(instance, "string") and not re.search(re.sub(r"(?<!\\)\$$", r"\\Z", pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


SpecValidator = extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


def _validator(schema: dict) -> SpecValidator:
    # A schema's `#/components/...` references resolve against its root: give that root swagger.yaml's components.
    return SpecValidator({**schema, "components": SPEC["components"]})


def validate(instance: object, schema: dict) -> None:
    """Validate against a schema taken from swagger.yaml."""
    _validator(schema).validate(instance)


def resolve(node: dict) -> dict:
    """An OpenAPI object (response, header), or the one its $ref names."""
    while "$ref" in node:
        target = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


_EMAIL_REQUEST = _validator({"$ref": "#/components/schemas/EmailRequest"})


def request_errors(payload: object) -> list[str]:
    """Why EmailRequest's schema refuses `payload`; empty if it accepts it."""
    return [error.message for error in _EMAIL_REQUEST.iter_errors(payload)]


def assert_request_matches_spec(payload: object) -> None:
    """The spec accepts a body the service accepted (it may be looser, never stricter)."""
    assert not request_errors(payload), request_errors(payload)


def _operations(path: str) -> dict | None:
    """The spec's operations for a request path: its own entry, else the first template it fills."""
    if path in SPEC["paths"]:
        return SPEC["paths"][path]
    for template, operations in SPEC["paths"].items():
        if re.fullmatch(re.sub(r"\\{\w+\\}", ".+", re.escape(template)), path):
            return operations
    return None


def documented_response(path: str, method: str, status: int) -> dict:
    """The response swagger.yaml documents; an unlisted path must answer 404, an unlisted method 405."""
    operations = _operations(path)
    if operations is None:
        assert status == 404, f"{method} {path}: not a documented path, so 404, not {status}"
        return resolve({"$ref": "#/components/responses/NotFound"})
    operation = operations.get("get" if method == "HEAD" else method.lower())
    if operation is None:
        assert status == 405, f"{method} {path}: not a documented method, so 405, not {status}"
        return resolve({"$ref": "#/components/responses/MethodNotAllowed"})
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented in swagger.yaml"
    return resolve(responses[str(status)])


def assert_response_matches_spec(response: TestResponse) -> None:
    """The status, headers and JSON body are what swagger.yaml documents for this path and method."""
    method, path = response.request.method, response.request.path
    documented = documented_response(path, method, response.status_code)
    for name, header in documented.get("headers", {}).items():
        header = resolve(header)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{method} {path} {response.status_code}: no {name} header"
            continue
        schema = header["schema"]
        validate(int(value) if schema.get("type") == "integer" else value, schema)
    content = documented.get("content")
    if method == "HEAD" or response.status_code == 204:
        assert not response.get_data(), f"{method} {path} {response.status_code}: a body"
        return
    assert content, f"{method} {path} {response.status_code}: swagger.yaml documents no body"
    assert response.mimetype in content, f"{method} {path} {response.status_code}: {response.mimetype}"
    body = response.get_json() if response.is_json else response.get_data(as_text=True)
    validate(body, content[response.mimetype]["schema"])
