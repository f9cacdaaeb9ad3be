"""SendGrid's published request schema for POST /v3/mail/send, as a JSON Schema validator."""
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# A copy of twilio/sendgrid-oai's spec/yaml/tsg_mail_v3.yaml (MIT), kept in the repo so tests run anywhere.
SPEC = Path(__file__).resolve().parents[1] / "specs" / "sendgrid-mail-v3.yaml"
REQUEST_SCHEMA = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


def mail_send_validator() -> jsonschema.Draft202012Validator:
    """OpenAPI 3.1 schemas are JSON Schema 2020-12; `$ref`s resolve within the spec."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    registry = Registry().with_resource("urn:sendgrid-mail-v3", Resource.from_contents(spec, DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"urn:sendgrid-mail-v3{REQUEST_SCHEMA}"}, registry=registry,
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
