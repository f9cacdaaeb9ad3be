"""Postmark's published request schema for POST /email (a Swagger 2.0 excerpt), as a JSON Schema validator."""
from pathlib import Path

import jsonschema
import yaml

# An excerpt of Postmark's server API description, kept in the repo with its source (specs/README.md).
SPEC = Path(__file__).resolve().parents[1] / "specs" / "postmark-server-email.yaml"


def send_email_validator() -> jsonschema.Draft4Validator:
    """Swagger 2.0 schemas are JSON Schema draft 4; `#/definitions/...` refs resolve within the spec."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    schema = {**spec["definitions"]["SendEmailRequest"], "definitions": spec["definitions"]}
    return jsonschema.Draft4Validator(schema)
