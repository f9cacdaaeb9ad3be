"""The one test double for `Provider`: scripted outcomes, and a record of every send and probe."""
from __future__ import annotations

import collections
import itertools
import time
from typing import Callable

from sendmailproxy.message import Message
from sendmailproxy.providers.base import Outcome, OutcomeKind, Provider


class FakeProvider(Provider):
    """Answers with queued outcomes first, then `outcome` / `probe_outcome`; records every send and probe.

    With neither queued nor set, a send is accepted with a fresh id and a probe is accepted; a `strict` one
    fails the test instead: nothing should have been sent. `on_send(provider, message)` runs at the start of
    each send, to observe the world at that moment; `latency` seconds of sleep then stand for the network
    (releasing the GIL, as real I/O does). Thread-safe under the GIL: each record is one list append.
    """

    max_send_seconds = 1.0

    def __init__(self, name: str, *, strict: bool = False,
                 on_send: Callable[[FakeProvider, Message], None] | None = None, latency: float = 0.0):
        self.name = name
        self.strict = strict
        self.on_send = on_send
        self.latency = latency
        self.outcome: Outcome | None = None
        self.probe_outcome: Outcome | None = None
        self.sends: list[tuple[Message, Outcome]] = []
        self.probes: list[Outcome | BaseException] = []
        self._sends: collections.deque[Outcome] = collections.deque()
        self._probes: collections.deque[Outcome | BaseException] = collections.deque()
        self._ids = itertools.count(1)

    def will_send(self, *outcomes: Outcome) -> None:
        self._sends.extend(outcomes)

    def will_probe(self, *outcomes: Outcome | BaseException) -> None:
        """Queue probe results; an exception instance is raised instead of returned."""
        self._probes.extend(outcomes)

    def forget_script(self) -> None:
        self._sends.clear()
        self._probes.clear()

    @property
    def sent(self) -> list[Message]:
        """The messages sent, in order."""
        return [message for message, _ in self.sends]

    def send(self, message: Message) -> Outcome:
        if self.on_send:
            self.on_send(self, message)
        if self.latency:
            time.sleep(self.latency)
        outcome = self._next(self._sends, self.outcome, "send")
        self.sends.append((message, outcome))
        return outcome

    def probe(self) -> Outcome:
        result = self._next(self._probes, self.probe_outcome, "probe")
        self.probes.append(result)
        if isinstance(result, BaseException):
            raise result
        return result

    def _next(self, queue: collections.deque, default: Outcome | None, what: str):
        try:
            return queue.popleft()
        except IndexError:
            pass
        if default is not None:
            return default
        if self.strict:
            raise AssertionError(f"unexpected {what} on {self.name}")
        if what == "probe":
            return Outcome(OutcomeKind.ACCEPTED)
        return Outcome(OutcomeKind.ACCEPTED, message_id=f"<{next(self._ids)}@{self.name}>")
