"""The HTTP transport resolves a provider's connection pool once, and keeps reusing one keep-alive connection."""
import http.server
import json
import threading

import pytest
from urllib3 import PoolManager

from sendmailproxy.providers import MailgunProvider, OutcomeKind
from tests.providers.conftest import MESSAGES, adapter


class MailgunServer(http.server.ThreadingHTTPServer):
    """Answers every POST as Mailgun does when it queues a message, and counts the connections it accepted."""

    daemon_threads = True

    def __init__(self):
        self.connections = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def setup(handler):  # noqa: N805 - the server is `self` here
                self.connections += 1
                super().setup()

            def do_POST(handler):  # noqa: N805
                handler.rfile.read(int(handler.headers["Content-Length"]))
                body = json.dumps({"id": "<1@mg.example.com>", "message": "Queued. Thank you."}).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def mailgun():
    with MailgunServer() as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        yield server
        server.shutdown()
        thread.join()


@pytest.fixture
def pool_lookups(monkeypatch):
    """Every time requests asks urllib3 for a pool (which it does on every call unless told otherwise)."""
    lookups = []
    original = PoolManager.connection_from_host

    def counted(manager, *args, **kwargs):
        lookups.append(args or kwargs)
        return original(manager, *args, **kwargs)

    monkeypatch.setattr(PoolManager, "connection_from_host", counted)
    return lookups


def test_the_pool_is_looked_up_once_and_its_connection_reused(mailgun, pool_lookups):
    provider = adapter(MailgunProvider, base_url=f"http://127.0.0.1:{mailgun.server_address[1]}")
    outcomes = [provider.send(MESSAGES["single"]) for _ in range(5)] + [provider.probe()]
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.ACCEPTED] * 6
    assert (len(pool_lookups), mailgun.connections) == (1, 1)


def test_after_close_the_pool_is_looked_up_again(mailgun, pool_lookups):
    provider = adapter(MailgunProvider, base_url=f"http://127.0.0.1:{mailgun.server_address[1]}")
    provider.send(MESSAGES["single"])
    provider._adapter.close()  # what Session.close does: every pool closed
    assert provider.send(MESSAGES["single"]).kind is OutcomeKind.ACCEPTED
    assert (len(pool_lookups), mailgun.connections) == (2, 2)
