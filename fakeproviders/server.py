"""Listeners that can stop and re-bind, and the provider endpoints that apply a fault per request."""

import asyncio
import errno
import logging
import socket
import struct
from dataclasses import dataclass

from .http11 import MAX_HEAD_BYTES, ProtocolError, Reply, read_request, text_reply
from .records import Store

HANG_LIMIT_S = 120
REBIND_TIMEOUT_S = 5
BACKLOG = 1024  # benchmarks open many connections at once; asyncio's default of 100 drops some

log = logging.getLogger("fakeproviders")

# Which parameters each mode takes besides "mode".
FAULT_PARAMS = {
    "ok": {"latency_ms"},
    "status": {"status", "retry_after_s", "latency_ms"},
    "not_allowed": {"latency_ms"},
    "account": {"error", "latency_ms"},  # one of the provider's ACCOUNT_ERRORS: suspended, bad_token, ...
    "malformed": {"latency_ms"},
    "hang": set(),
    "reset": set(),
    "lost_reply": set(),
    "stopped": set(),
}


class FaultError(ValueError):
    """A fault the control API was asked for but cannot apply."""


def checked_mode(params: dict, fault_params: dict[str, set[str]], modes=None) -> str:
    """The fault's mode, once it is one of `modes` (every mode in `fault_params` by default) and takes every
    other parameter given."""
    modes = tuple(fault_params) if modes is None else modes
    mode = params.get("mode")
    if mode not in modes:
        raise FaultError(f"mode must be one of {', '.join(modes)}")
    unknown = set(params) - {"mode"} - fault_params[mode]
    if unknown:
        raise FaultError(f"mode {mode} takes no {', '.join(sorted(unknown))}")
    return mode


@dataclass(frozen=True)
class Fault:
    mode: str = "ok"
    status: int | None = None
    latency_ms: float = 0
    retry_after_s: float = 10
    error: str | None = None

    @classmethod
    def parse(cls, params: dict, modes=tuple(FAULT_PARAMS), account_errors=()) -> "Fault":
        """Build a fault from the control API's JSON, refusing anything unknown or ill-typed."""
        mode = checked_mode(params, FAULT_PARAMS, modes)
        status = params.get("status")
        if mode == "status" and not (type(status) is int and 200 <= status <= 599):
            raise FaultError("status must be an integer from 200 to 599")
        error = params.get("error")
        if mode == "account" and error not in account_errors:
            raise FaultError(f"error must be one of {', '.join(account_errors)}")
        for name in ("latency_ms", "retry_after_s"):
            value = params.get(name, 0)
            if type(value) not in (int, float) or value < 0:
                raise FaultError(f"{name} must be a number >= 0")
        return cls(mode, status, params.get("latency_ms", 0), params.get("retry_after_s", 10), error)

    def describe(self) -> dict:
        """The parameters that matter for this mode, as the control API reports them."""
        values = {"status": self.status, "latency_ms": self.latency_ms,
                  "retry_after_s": self.retry_after_s, "error": self.error}
        return {"mode": self.mode, **{k: v for k, v in values.items() if k in FAULT_PARAMS[self.mode]}}


class Listener:
    """One listening socket on a fixed host and port, which can stop and bind the same port again."""

    def __init__(self, host: str, port: int, serve):
        self.host, self.port = host, port
        self._serve = serve  # coroutine (reader, writer) that owns one connection
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        sock = await _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock, limit=MAX_HEAD_BYTES)

    async def stop(self) -> None:
        """Refuse new connections and close the open ones, kept-alive or in the middle of a request."""
        if self._server is not None:
            self._server.close()
            self._server = None
        writers = list(self._writers)
        for writer in writers:
            writer.close()
        # Only once the sockets are really closed may the control API answer: a client told "stopped"
        # must not find its kept-alive connection still open.
        await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)

    async def _accept(self, reader, writer) -> None:
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            pass  # shutting down; Python 3.11's start_server logs a cancelled connection task as an error
        finally:
            self._writers.discard(writer)
            writer.close()


class ProtocolListener(Listener):
    """A Listener serving an asyncio protocol (aiosmtpd's SMTP) made by `factory(listener)`, over TLS if given."""

    def __init__(self, host: str, port: int, factory, ssl_context=None):
        super().__init__(host, port, serve=None)
        self._factory, self._ssl = factory, ssl_context

    async def start(self) -> None:
        sock = await _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self._factory(self), sock=sock, ssl=self._ssl)

    async def stop(self) -> None:
        self.drop_connections()
        await super().stop()

    def drop_connections(self) -> None:
        """Reset every open connection: a killed relay says no TLS goodbye, and an idle client would answer none."""
        for writer in list(self._writers):
            writer.transport.abort()

    def opened(self, writer) -> None:
        """A protocol's connection, closed by `stop` like any other."""
        self._writers.add(writer)

    def closed(self, writer) -> None:
        self._writers.discard(writer)


def url(scheme: str, host: str, port: int) -> str:
    """A listener's URL, IPv6 hosts in brackets."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    deadline = asyncio.get_running_loop().time() + REBIND_TIMEOUT_S
    while True:
        try:
            # create_server sets SO_REUSEADDR, so a port left in TIME_WAIT binds again at once.
            return socket.create_server((host, port), family=family, backlog=BACKLOG)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or not port or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def next_request(reader, writer, max_body: int):
    """The next request on a connection, or None when it is over (closed, or not HTTP)."""
    try:
        return await read_request(reader, writer, max_body)
    except ProtocolError as exc:
        writer.write(text_reply(exc.status, str(exc)).encode(keep_alive=False))
        return None


async def send(writer, reply: Reply, keep_alive: bool) -> None:
    writer.write(reply.encode(keep_alive))
    await writer.drain()


class ProviderEndpoint:
    """One provider's listener; each request meets the fault in force when it arrives."""

    chosen_options: dict[str, str] = {}  # options the fake filled in at start, reported on its start line

    def __init__(self, api, store: Store, host: str, port: int):
        self.api, self.store = api, store
        self.chosen_options = getattr(api, "chosen_options", {})
        self.fault = Fault()
        self.listener = Listener(host, port, self._serve)

    @property
    def url(self) -> str:
        return url("http", self.listener.host, self.listener.port)

    def parse_fault(self, params: dict) -> Fault:
        # not_allowed is a Mailgun account state; SendGrid has no such 400. Account errors are each fake's own.
        account_errors = tuple(getattr(self.api, "ACCOUNT_ERRORS", ()))
        modes = [m for m in FAULT_PARAMS if (m != "not_allowed" or hasattr(self.api, "not_allowed"))
                 and (m != "account" or account_errors)]
        return Fault.parse(params, modes, account_errors)

    async def set_fault(self, fault: Fault) -> None:
        if fault.mode == "stopped":
            await self.listener.stop()
        elif not self.listener.running:
            await self.listener.start()
        if fault == self.fault:
            return
        self.fault = fault
        described = " ".join(f"{k}={v}" for k, v in fault.describe().items())
        log.info("%s fault: %s", self.api.name, described)

    async def _serve(self, reader, writer) -> None:
        name = self.api.name
        self.store.count_connection(name)
        while (request := await next_request(reader, writer, self.api.max_body)) is not None:
            fault = self.fault  # read per request, so a switch reaches kept-alive connections too
            if fault.mode == "hang":
                self.store.count(name, "hang")
                await _hold(reader)
                return
            if fault.mode == "reset":
                self.store.count(name, "reset")
                _reset(writer)
                return
            if fault.mode == "lost_reply":  # accepted (and delivered), but the answer never reaches the client
                _, record = self.api.handle(request)
                self.store.count(name, "lost_reply")
                if record is not None:
                    self.store.add(record)
                _reset(writer)
                return
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)  # sleeps only this connection
                if writer.is_closing():
                    return  # the provider was stopped meanwhile: the request dies with it
            reply, record = self._answer(request, fault)
            self.store.count(name, reply.status)
            if record is not None:
                self.store.add(record)
            await send(writer, reply, request.keep_alive)
            if not request.keep_alive:
                return

    def _answer(self, request, fault: Fault) -> tuple[Reply, dict | None]:
        # A broken provider is broken for every request: faults come before any validation.
        if fault.mode == "status":
            return self.api.error(fault.status, retry_after_s=fault.retry_after_s), None
        if fault.mode == "not_allowed":
            return self.api.not_allowed(), None
        if fault.mode == "account":
            return self.api.account_error(fault.error), None
        if fault.mode == "malformed":
            return self.api.malformed(), None
        if request.too_large:
            return self.api.error(413), None
        if request.bad_encoding:
            return self.api.error(400), None
        return self.api.handle(request)


async def _hold(reader) -> None:
    """Swallow whatever the client sends, answering nothing, until it gives up or the limit passes."""
    try:
        async with asyncio.timeout(HANG_LIMIT_S):
            while await reader.read(65536):
                pass
    except TimeoutError:
        pass


def _reset(writer) -> None:
    # Linger on with a zero timeout turns close() into a TCP RST instead of an orderly FIN.
    linger = struct.pack("ii", 1, 0)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    writer.transport.abort()
