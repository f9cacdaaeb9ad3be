"""SendGrid's mail-send payload rules, by hand: the published schema misses most of what the server checks."""

import base64
import binascii

from .addresses import is_email

MAX_PERSONALIZATIONS = MAX_RECIPIENTS = MAX_REPLY_TO = 1000
MAX_CATEGORIES = 10
MAX_CATEGORY_CHARS = 255
MAX_CUSTOM_ARGS_BYTES = 10_000
RESERVED_HEADERS = frozenset(name.lower() for name in (
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "Content-Type", "Content-Transfer-Encoding",
    "To", "From", "Subject", "Reply-To", "CC", "BCC"))

PERSONALIZATIONS_REQUIRED = ("The personalizations field is required and must have at least one "
                             "personalization.")
TO_REQUIRED = ("The to array is required for all personalization objects, and must have at least "
               "one email object with a valid email address.")
INVALID_ADDRESS = "Does not contain a valid address."
FROM_REQUIRED = ("The from object must be provided for every email send. It is an object that "
                 "requires the email parameter, but may also contain a name parameter.")
SUBJECT_REQUIRED = ("The subject is required. You can get around this requirement if you use a "
                    "template with a subject defined or if every personalization has a subject "
                    "defined.")
CONTENT_REQUIRED = ("Unless a valid template_id is provided, the content parameter is required. "
                    "There must be at least one defined content block. We typically suggest both "
                    "text/plain and text/html blocks are included, but only one block is required.")
DUPLICATE = ("Each email address in the personalization block should be unique between to, cc, and "
             "bcc. We found the first duplicate instance of [{email}] in the {field} field.")


class Invalid(ValueError):
    """A rule the payload breaks: SendGrid's message and the dotted path of the field (or None)."""

    def __init__(self, message: str = "Bad Request", field: str | None = None):
        super().__init__(message)
        self.field = field


def validate(payload) -> None:
    """Raise Invalid for the first rule the decoded JSON body breaks."""
    _of_type(payload, dict)
    _check_personalizations(payload.get("personalizations"))
    _check_from(payload.get("from"))
    _check_subject(payload)
    _check_content(payload)
    _check_reply_to(payload)
    _check_attachments(_of_type(payload.get("attachments", []), list))
    _check_categories(_of_type(payload.get("categories", []), list))
    _check_headers(payload.get("headers", {}), "headers")
    _check_custom_args(payload.get("custom_args", {}), "custom_args")
    # Only the shape: an "enable" that is not a JSON boolean is accepted, and simply not sandbox mode.
    _of_type(_of_type(payload.get("mail_settings", {}), dict).get("sandbox_mode", {}), dict)


def decode_attachment(content: str) -> bytes:
    return base64.b64decode("".join(content.split()), validate=True)


def _of_type(value, kind):
    """A value of the wrong JSON type gets SendGrid's bare Bad Request."""
    if not isinstance(value, kind):
        raise Invalid()
    return value


def _check_personalizations(people) -> None:
    if not isinstance(people, list) or not people:
        raise Invalid(PERSONALIZATIONS_REQUIRED, "personalizations")
    if len(people) > MAX_PERSONALIZATIONS:
        raise Invalid(f"The personalizations field can have at most {MAX_PERSONALIZATIONS} "
                      "personalizations.", "personalizations")
    total = 0
    for i, person in enumerate(people):
        where = f"personalizations.{i}"
        _of_type(person, dict)
        if not isinstance(person.get("to"), list) or not person["to"]:
            raise Invalid(TO_REQUIRED, f"{where}.to")
        seen = set()
        for kind in ("to", "cc", "bcc"):
            for j, address in enumerate(_of_type(person.get(kind, []), list)):
                email = _check_address(address, f"{where}.{kind}.{j}", recipient=True).lower()
                if email in seen:  # the rule is per personalization, and we compare ignoring case
                    raise Invalid(DUPLICATE.format(email=address["email"], field=f"{where}.{kind}"), where)
                seen.add(email)
        total += len(seen)
        if "subject" in person:
            _check_subject_text(person["subject"], f"{where}.subject")
        _check_headers(person.get("headers", {}), f"{where}.headers")
        _check_custom_args(person.get("custom_args", {}), f"{where}.custom_args")
        _check_strings(person.get("substitutions", {}))
    if total > MAX_RECIPIENTS:
        raise Invalid(f"The total number of recipients must be no more than {MAX_RECIPIENTS}. This "
                      "includes all recipients defined within the to, cc, and bcc parameters, across "
                      "each object that you include in the personalizations array.", "personalizations")


def _check_address(address, where: str, recipient: bool = False) -> str:
    _of_type(address, dict)
    email, name = address.get("email"), address.get("name", "")
    if not isinstance(email, str) or not is_email(email):
        raise Invalid(INVALID_ADDRESS, f"{where}.email")
    _of_type(name, str)
    if recipient and (";" in name or "," in name):
        raise Invalid("The name of a recipient may not contain ';' or ','.", f"{where}.name")
    return email


def _check_from(sender) -> None:
    if not isinstance(sender, dict) or "email" not in sender:
        raise Invalid(FROM_REQUIRED, "from")
    email = _check_address(sender, "from")
    if not email.isascii():
        raise Invalid("The from email may not contain Unicode characters.", "from.email")


def _check_subject(payload: dict) -> None:
    if "subject" in payload:
        _check_subject_text(payload["subject"], "subject")
    elif "template_id" not in payload and not all("subject" in p for p in payload["personalizations"]):
        raise Invalid(SUBJECT_REQUIRED, "subject")


def _check_subject_text(subject, field: str) -> None:
    if not _of_type(subject, str):
        raise Invalid(SUBJECT_REQUIRED, field)


def _check_content(payload: dict) -> None:
    content = payload.get("content")
    if not content:
        if "template_id" in payload:
            return
        raise Invalid(CONTENT_REQUIRED, "content")
    types = []
    for i, item in enumerate(_of_type(content, list)):
        _of_type(item, dict)
        for key in ("type", "value"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise Invalid(f"The content {key} must be a string at least one character in length.",
                              f"content.{i}.{key}")
        types.append(item["type"].lower())
    if types.count("text/plain") > 1 or types.count("text/html") > 1:
        raise Invalid("If present, text/plain and text/html may only be provided once.", "content")
    expected = [kind for kind in ("text/plain", "text/html") if kind in types]
    if types[:len(expected)] != expected:
        raise Invalid("If present, text/plain must be first, followed by text/html, followed by any "
                      "other content.", "content")


def _check_reply_to(payload: dict) -> None:
    if "reply_to" in payload and "reply_to_list" in payload:
        raise Invalid("The reply_to and reply_to_list fields can not be used together.", "reply_to")
    if "reply_to" in payload:
        _check_address(payload["reply_to"], "reply_to")
    replies = _of_type(payload.get("reply_to_list", []), list)
    if len(replies) > MAX_REPLY_TO:
        raise Invalid(f"The reply_to_list can have at most {MAX_REPLY_TO} entries.", "reply_to_list")
    emails = [_check_address(r, f"reply_to_list.{i}").lower() for i, r in enumerate(replies)]
    if len(set(emails)) != len(emails):
        raise Invalid("The reply_to_list entries must be unique.", "reply_to_list")


def _check_attachments(attachments: list) -> None:
    for i, attachment in enumerate(attachments):
        where = f"attachments.{i}"
        content = _of_type(attachment, dict).get("content")
        if not isinstance(content, str) or not content:
            raise Invalid("The attachment content is required.", f"{where}.content")
        try:
            decode_attachment(content)
        except binascii.Error as exc:
            raise Invalid("The attachment content must be base64 encoded.", f"{where}.content") from exc
        if not isinstance(attachment.get("filename"), str) or not attachment["filename"]:
            raise Invalid("The attachment filename parameter is required.", f"{where}.filename")
        if attachment.get("disposition", "attachment") not in ("inline", "attachment"):
            raise Invalid("The disposition of the attachment must be inline or attachment.",
                          f"{where}.disposition")
        if "type" in attachment and not _of_type(attachment["type"], str):
            raise Invalid("The attachment type must be at least one character long.", f"{where}.type")


def _check_categories(categories: list) -> None:
    if len(categories) > MAX_CATEGORIES:
        raise Invalid(f"A message can have at most {MAX_CATEGORIES} categories.", "categories")
    for i, category in enumerate(categories):
        if len(_of_type(category, str)) > MAX_CATEGORY_CHARS:
            raise Invalid(f"A category can have at most {MAX_CATEGORY_CHARS} characters.",
                          f"categories.{i}")
    if len(set(categories)) != len(categories):
        raise Invalid("The categories must be unique.", "categories")


def _check_headers(headers, field: str) -> None:
    for name, value in _of_type(headers, dict).items():
        if not isinstance(value, str):
            raise Invalid(f"Invalid type. Expected: string, given: {_json_type(value)}.",
                          f"{field}.{name}")
        if name.lower() in RESERVED_HEADERS:
            raise Invalid(f"The header {name} is reserved and cannot be set.", f"{field}.{name}")


def _check_custom_args(custom_args, field: str) -> None:
    _check_strings(custom_args)
    if sum(len(k.encode()) + len(v.encode()) for k, v in custom_args.items()) > MAX_CUSTOM_ARGS_BYTES:
        raise Invalid(f"The custom_args may not exceed {MAX_CUSTOM_ARGS_BYTES} bytes.", field)


def _check_strings(mapping) -> None:
    # SendGrid answers a non-string value here with a bare Bad Request, no field.
    if not all(isinstance(value, str) for value in _of_type(mapping, dict).values()):
        raise Invalid()


def _json_type(value) -> str:
    names = {bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), "string")
