"""A worker's background thread that restarts itself: the prober and the push sender are each one."""
from __future__ import annotations

import abc
import logging
import os
import threading
from typing import Callable


class BackgroundThread(abc.ABC):
    """One daemon thread per process running `_run`, which beats `heartbeat` each turn and exits once replaced.

    `ensure_running` (from the post-fork hook and each request) starts it, or restarts it when it died or its
    heartbeat went stale; it takes no lock while the thread is alive, so the send path stays lock-free.
    """

    name: str  # the thread's name, with the pid
    what: str  # what the restart's log line calls it

    def __init__(self, clock: Callable[[], float], stale_after: float):
        self.clock = clock
        self.stale_after = stale_after
        self.heartbeat: float | None = None
        self._thread: threading.Thread | None = None
        self._restart_lock = threading.Lock()  # taken only when the thread must be (re)started
        self._stop = threading.Event()

    def heartbeat_age(self) -> float | None:
        return None if self.heartbeat is None else self.clock() - self.heartbeat

    def is_alive(self) -> bool:
        age = self.heartbeat_age()
        return bool(self._thread and self._thread.is_alive() and age is not None and age < self.stale_after)

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running or its heartbeat is stale. Cheap when alive."""
        if self.is_alive():
            return
        with self._restart_lock:
            if self.is_alive():
                return
            if self._thread is not None:
                logging.getLogger(type(self).__module__).error(
                    f"{self.what} thread was not running; restarting it", extra={"heartbeat_age": self.heartbeat_age()})
            self._stop.clear()
            self.heartbeat = self.clock()
            # A restarted loop sees it was replaced and exits, so there is never more than one.
            self._thread = threading.Thread(target=self._run, name=f"{self.name}-{os.getpid()}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @abc.abstractmethod
    def _run(self) -> None:
        """The loop: while `self._thread` is the current thread and not stopped, beat and work."""
