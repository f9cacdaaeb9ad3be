"""SES v2's `SendEmailRequest`, from botocore's sesv2 service model, as a checker of the JSON we send."""
import base64
import binascii
import re

import botocore.session

SEND_EMAIL = botocore.session.get_session().get_service_model("sesv2").operation_model("SendEmail")


def problems(value, shape=SEND_EMAIL.input_shape, path: str = "SendEmailRequest") -> list[str]:
    """Everything in `value` (decoded JSON) that the model's shape forbids: types, members, lengths, enums."""
    meta = shape.metadata
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        found = [f"{path}: lacks {name}" for name in shape.required_members if name not in value]
        found += [f"{path}: no member {name}" for name in value if name not in shape.members]
        for name, member in shape.members.items():
            if name in value:
                found += problems(value[name], member, f"{path}.{name}")
        return found
    if shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        found = _length(path, len(value), meta)
        for index, item in enumerate(value):
            found += problems(item, shape.member, f"{path}[{index}]")
        return found
    if not isinstance(value, str):
        return [f"{path}: not a string"]
    if shape.type_name == "blob":  # base64 in JSON
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return [f"{path}: not base64"]
        return []
    found = _length(path, len(value), meta)
    if shape.enum and value not in shape.enum:
        found.append(f"{path}: {value!r} not one of {shape.enum}")
    if "pattern" in meta and not re.search(meta["pattern"], value):
        found.append(f"{path}: {value!r} does not match {meta['pattern']}")
    return found


def _length(path: str, length: int, meta: dict) -> list[str]:
    if length < meta.get("min", 0) or length > meta.get("max", length):
        return [f"{path}: length {length} outside [{meta.get('min', 0)}, {meta.get('max', '')}]"]
    return []
