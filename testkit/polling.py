"""The one way a test waits for another thread or process: poll a condition, with a deadline."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

WAIT_SECONDS = 10.0  # the longest a wait lasts unless told otherwise; a bound for a hang, never a pass/fail threshold


def wait_until(condition: Callable[[], T], what: str, timeout: float = WAIT_SECONDS, interval: float = 0.05) -> T:
    """Poll until `condition()` is truthy and return that value; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
