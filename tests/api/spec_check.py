"""Check Flask test responses (and request bodies) against swagger.yaml with jsonschema."""
from __future__ import annotations

import functools

import jsonschema
from werkzeug.test import TestResponse

from sendmailproxy.api import SPEC


def _resolve(ref: str) -> dict:
    node = SPEC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def to_json_schema(node):
    """An OpenAPI 3.0 schema as plain JSON Schema: $refs inlined, `nullable` turned into a null branch."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return to_json_schema(_resolve(node["$ref"]))
    schema = {key: to_json_schema(value) for key, value in node.items() if key not in ("nullable", "example")}
    return {"anyOf": [schema, {"type": "null"}]} if node.get("nullable") else schema


@functools.cache
def _validator(ref: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(to_json_schema({"$ref": ref}))


def assert_request_matches_spec(payload: object) -> None:
    """The spec accepts a body the service accepted (it may be looser, never stricter)."""
    _validator("#/components/schemas/EmailRequest").validate(payload)


def _validate(instance: object, schema: dict) -> None:
    jsonschema.validate(instance, schema, cls=jsonschema.Draft4Validator)


def _documented_response(path: str, method: str, status: int) -> dict:
    operations = SPEC["paths"].get(path)
    if operations is None:
        return _resolve("#/components/responses/NotFound")
    operation = operations.get("get" if method == "HEAD" else method.lower())
    if operation is None:
        return _resolve("#/components/responses/MethodNotAllowed")
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented in swagger.yaml"
    response = responses[str(status)]
    return _resolve(response["$ref"]) if "$ref" in response else response


def assert_response_matches_spec(response: TestResponse) -> None:
    """The status, headers and JSON body are what swagger.yaml documents for this path and method."""
    method, path = response.request.method, response.request.path
    documented = _documented_response(path, method, response.status_code)
    for name, header in documented.get("headers", {}).items():
        header = _resolve(header["$ref"]) if "$ref" in header else header
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{method} {path} {response.status_code}: no {name} header"
            continue
        schema = to_json_schema(header["schema"])
        _validate(int(value) if schema.get("type") == "integer" else value, schema)
    content = documented.get("content")
    if method == "HEAD":
        return
    assert content, f"{method} {path} {response.status_code}: swagger.yaml documents no body"
    assert response.mimetype in content, f"{method} {path} {response.status_code}: {response.mimetype}"
    body = response.get_json() if response.is_json else response.get_data(as_text=True)
    _validate(body, to_json_schema(content[response.mimetype]["schema"]))
