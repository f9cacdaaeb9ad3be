"""Form bodies (url-encoded and multipart) parsed with the stdlib, as Mailgun receives them."""

from dataclasses import dataclass
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from urllib.parse import parse_qsl

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MALFORMED_MULTIPART = "malformed multipart/form-data request"


class FormError(ValueError):
    """The body cannot be read as the form its Content-Type announces."""


@dataclass(frozen=True)
class FilePart:
    field: str
    filename: str
    content_type: str | None
    data: bytes


def parse_form(content_type_header: str, body: bytes) -> tuple[list[tuple[str, str]], list[FilePart]]:
    """Return the text fields in order (repeats kept) and the file parts."""
    media_type = content_type_header.partition(";")[0].strip().lower()
    if media_type == URLENCODED:
        try:
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True), []
        except UnicodeDecodeError as exc:
            raise FormError("request body is not valid UTF-8") from exc
    if media_type == MULTIPART:
        return _parse_multipart(content_type_header, body)
    raise FormError(f"unsupported Content-Type {media_type or '(none)'}: "
                    f"send {URLENCODED} or {MULTIPART}")


def _parse_multipart(content_type_header: str, body: bytes):
    # The email parser reads a MIME document, so prefix the body with its Content-Type header.
    head = f"Content-Type: {content_type_header}\r\n\r\n".encode("latin-1", "replace")
    document = BytesParser().parsebytes(head + body)
    if not document.is_multipart() or document.defects:
        raise FormError(MALFORMED_MULTIPART)
    fields, files = [], []
    for part in document.get_payload():
        name = part.get_param("name", header="content-disposition")
        if part.get_content_disposition() != "form-data" or not name or part.defects:
            raise FormError(MALFORMED_MULTIPART)
        name = _utf8(collapse_rfc2231_value(name))
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            content_type = part.get_content_type() if "content-type" in part else None
            files.append(FilePart(name, _utf8(filename), content_type, data))
        else:
            fields.append((name, _text(data, part.get_content_charset("utf-8"))))
    return fields, files


def _text(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", "replace")


def _utf8(text: str) -> str:
    """Raw UTF-8 in a header reaches us smuggled through surrogates by the bytes parser."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
