"""A free TCP port on 127.0.0.1."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (the OS picked it): for a server to bind, or a client to be refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
