"""Just enough HTTP/1.1 for the fake: keep-alive, Content-Length and chunked request bodies."""

import asyncio
import gzip
import json
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_HEAD_BYTES = 64 * 1024
_DRAIN_CHUNK = 1024 * 1024


class ProtocolError(Exception):
    """The bytes on the wire are not HTTP we understand; answer with `status` and close."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    too_large: bool = False  # the body was drained but not kept: it exceeded the listener's limit
    bad_encoding: bool = False  # Content-Encoding we cannot decode

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encode(self, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {reason(self.status)}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        body = self.body
        if self.status in (204, 304):  # RFC 9110: these never carry a body or its length
            body = b""
        else:
            lines.append(f"Content-Length: {len(body)}")
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def reason(status: int) -> str:
    """The standard reason phrase, for status lines and default error messages."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Enhance Your Calm" if status == 420 else "Unknown"


def json_reply(status: int, payload, headers=()) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(status, body, [("Content-Type", "application/json"), *headers])


def text_reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    return Reply(status, text.encode(), [("Content-Type", content_type)])


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       max_body: int) -> Request | None:
    """Read one request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ProtocolError(400, "incomplete request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(431, "request head too large") from exc
    request = _parse_head(head)
    if request.headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        body, request.too_large = await _read_body(reader, request.headers, max_body)
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(400, "chunk size line too long") from exc
    request.body, request.bad_encoding = _decode(body, request.headers.get("content-encoding", ""))
    if len(request.body) > max_body:  # the limits apply to the decompressed body
        request.body, request.too_large = b"", True
    return request


def _parse_head(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError as exc:
        raise ProtocolError(400, "malformed request line") from exc
    if not version.startswith("HTTP/1."):
        raise ProtocolError(505, "only HTTP/1.x")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or name != name.strip():
            raise ProtocolError(400, "malformed header line")
        name, value = name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Request(method, target, version, headers)


async def _read_body(reader, headers, max_body) -> tuple[bytes, bool]:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader, max_body)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise ProtocolError(400, "bad Content-Length") from exc
    if length < 0:
        raise ProtocolError(400, "bad Content-Length")
    if length <= max_body:
        return await reader.readexactly(length), False
    await _drain(reader, length)
    return b"", True


async def _read_chunked(reader, max_body) -> tuple[bytes, bool]:
    parts, size = [], 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            chunk_size = int(line.split(b";")[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError(400, "bad chunk size") from exc
        if chunk_size == 0:
            break
        size += chunk_size
        if size > max_body:
            await _drain(reader, chunk_size)
        else:
            parts.append(await reader.readexactly(chunk_size))
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError(400, "chunk without CRLF")
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, ignored
        pass
    return (b"", True) if size > max_body else (b"".join(parts), False)


async def _drain(reader, length: int) -> None:
    # Read and drop instead of closing early: a client still writing would see a reset, not our 413.
    while length:
        length -= len(await reader.readexactly(min(length, _DRAIN_CHUNK)))


def _decode(body: bytes, encoding: str) -> tuple[bytes, bool]:
    """Both providers accept gzip bodies; anything else we cannot read."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body, False
    if encoding == "gzip":
        try:
            return gzip.decompress(body), False
        except (OSError, EOFError, zlib.error):
            return body, True
    return body, True
