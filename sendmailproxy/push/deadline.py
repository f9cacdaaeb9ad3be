"""A deadline on a whole POST: past it the socket is shut, however slowly the receiver trickles its answer."""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection

# A socket's timeout bounds each read, not their sum: a receiver sending a byte every few seconds would hold a
# thread for ever. So each attempt registers here, the connection hands it its socket as it waits for the answer,
# and the sender thread shuts the sockets of attempts past their deadline; the blocked read then ends at once.
_current = threading.local()  # the attempt this thread is making


class Attempt:
    """One POST in flight: its deadline, and the socket to shut if the deadline comes first."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.cut = False  # the deadline passed and the socket was shut: the attempt timed out
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()  # the socket goes back to the pool at finish: never shut it after that

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock

    def finish(self) -> None:
        with self._lock:
            self._done, self._sock = True, None

    def cut_if_overdue(self, now: float) -> None:
        with self._lock:
            if self._done or now < self.deadline:
                return
            self.cut = True
            if self._sock is not None:
                try:
                    # socket.socket's own shutdown, also for TLS: SSLSocket's would drop its SSL object under
                    # the reading thread's feet.
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
                except OSError:  # already closed
                    pass


class Deadlines:
    """The attempts in flight in one sender; `cut_overdue` is called by its thread every tick."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._attempts: set[Attempt] = set()
        self._lock = threading.Lock()

    def start(self, seconds: float) -> Attempt:
        """Register this thread's attempt, due to end within `seconds`."""
        attempt = Attempt(self.clock() + seconds)
        with self._lock:
            self._attempts.add(attempt)
        _current.attempt = attempt
        return attempt

    def finish(self, attempt: Attempt) -> None:
        _current.attempt = None
        attempt.finish()
        with self._lock:
            self._attempts.discard(attempt)

    def cut_overdue(self) -> None:
        now = self.clock()
        with self._lock:
            attempts = list(self._attempts)
        for attempt in attempts:
            attempt.cut_if_overdue(now)


def _watched(connection_class: type[HTTPConnection]) -> type[HTTPConnection]:
    class Watched(connection_class):
        def getresponse(self, *args, **kwargs):
            attempt = getattr(_current, "attempt", None)
            if attempt is not None:
                attempt.watch(self.sock)
            return super().getresponse(*args, **kwargs)

    Watched.__name__ = "Watched" + connection_class.__name__
    return Watched


class _Pool(HTTPConnectionPool):
    ConnectionCls = _watched(HTTPConnection)


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _watched(HTTPSConnection)


_POOLS = {"http": _Pool, "https": _TlsPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections hand their socket to the attempt under way (direct or via a proxy)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # a SOCKS manager keeps its own pools (and is not watched)
            manager.pool_classes_by_scheme = _POOLS
        return manager
