"""An application receiving the relay's pushes: a threaded HTTP server on 127.0.0.1 that verifies each one with
the `standardwebhooks` library, records it, and answers as the test scripts it (status, delay, hang, trickle)."""
from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from testkit.ports import free_port


@dataclass(frozen=True)
class Reply:
    """How to answer one push: a status after `delay` s; `trickle` sends the answer a byte every `trickle` s."""

    status: int = 200
    delay: float = 0.0
    headers: dict = field(default_factory=dict)
    trickle: float = 0.0


@dataclass(frozen=True)
class Push:
    """One push as received: its headers, its body parsed, and whether every secret's check passed."""

    id: str
    timestamp: int
    headers: dict
    body: dict
    verified: bool
    at: float  # time.monotonic() on arrival


class PushReceiver:
    """Verifies with each of `secrets` (all must pass); answers with the scripted replies in turn, then `default`."""

    def __init__(self, secrets: list[str], default: Reply = Reply(), port: int | None = None,
                 tls: ssl.SSLContext | None = None):
        self.webhooks = [Webhook(secret) for secret in secrets]
        self.default = default
        self.script: list[Reply] = []
        self.port = port or free_port()
        self.tls = tls  # serve https with this server context
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hooks/events"
        self.pushes: list[Push] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.released = threading.Event()  # set at stop(): a hanging reply ends

    def start(self) -> "PushReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real application server

            def do_POST(self):
                receiver._handle(self)

            def log_message(self, *args):
                pass

        self.released.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="push-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> Counter:
        """How many times each webhook-id arrived."""
        with self._lock:
            return Counter(push.id for push in self.pushes)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        verified = bool(self.webhooks)
        for webhook in self.webhooks:
            try:
                webhook.verify(raw, headers)
            except WebhookVerificationError:
                verified = False
        with self._lock:
            self.pushes.append(Push(headers.get("webhook-id", ""), int(headers.get("webhook-timestamp", "0") or 0),
                                    headers, json.loads(raw), verified, time.monotonic()))
            reply = self.script.pop(0) if self.script else self.default
        if not verified:
            reply = Reply(401)
        self.released.wait(reply.delay)
        answer = (f"HTTP/1.1 {reply.status} X\r\nContent-Length: 2\r\n"
                  + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items()) + "\r\nok").encode()
        try:
            if not reply.trickle:
                handler.wfile.write(answer)
                return
            for byte in answer:  # a receiver that never stops sending, too slowly to finish
                if self.released.wait(reply.trickle):
                    return
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        except OSError:  # the relay hung up (its deadline): what a real server sees too
            handler.close_connection = True
