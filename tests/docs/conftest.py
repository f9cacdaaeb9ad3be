"""Fixtures for the /docs page: the real service under gunicorn, and headless Chromium driven over CDP."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
import websocket

from testkit.harness import Gunicorn
from testkit.polling import wait_until

WAIT = 20  # seconds: the bound on every wait for the browser or the page
CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1600", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
    # Belt and braces for the no-other-host assertion: nothing but loopback can even be resolved.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)

# Finds the first element matching a CSS selector whose text contains `text`, scrolled into the viewport.
FIND_JS = """(selector, text) => {
    const element = Array.from(document.querySelectorAll(selector))
        .find(el => el.offsetParent !== null && el.textContent.includes(text));
    if (!element) return null;
    element.scrollIntoView({block: "center"});
    const box = element.getBoundingClientRect();
    return {x: box.x + box.width / 2, y: box.y + box.height / 2};
}"""


class BrowserError(AssertionError):
    """Chromium did not answer, or answered a CDP call with an error."""


class Page:
    """One Chromium tab over the Chrome DevTools Protocol; every CDP event received is kept in `events`."""

    def __init__(self, ws_url: str):
        # Chromium refuses DevTools websockets that carry an Origin header it was not told to allow.
        self._socket = websocket.create_connection(ws_url, timeout=WAIT, suppress_origin=True)
        self._next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable")

    def close(self) -> None:
        self._socket.close()

    def call(self, method: str, **params) -> dict:
        """Send one command; its result, once Chromium answers (within WAIT seconds)."""
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        deadline = time.monotonic() + WAIT
        while True:
            self._socket.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self._socket.recv())
            except websocket.WebSocketTimeoutException:
                raise BrowserError(f"no answer to {method} within {WAIT} s") from None
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                return message["result"]
            self.events.append(message)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, what: str):
        """The first truthy value of `expression`, polled for up to WAIT seconds."""
        return wait_until(lambda: self.evaluate(expression), what, WAIT, 0.1)

    def open(self, url: str) -> None:
        """Navigate to `url` and wait for it to load; AssertionError unless it answered 200."""
        self.call("Page.navigate", url=url)
        self.wait_until(f"location.href === {json.dumps(url)} && document.readyState === 'complete'",
                        f"{url} to load")
        status = self.evaluate("performance.getEntriesByType('navigation')[0].responseStatus")
        assert status == 200, f"GET {url} answered {status}: {self.evaluate('document.body.innerText')[:500]}"

    def click(self, selector: str, text: str = "") -> None:
        """Click, with the mouse, the element matching `selector` whose text contains `text`."""
        point = self.wait_until(f"({FIND_JS})({json.dumps(selector)}, {json.dumps(text)})",
                                f"a visible {selector!r} containing {text!r}")
        for event, buttons in (("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)):
            self.call("Input.dispatchMouseEvent", type=event, x=point["x"], y=point["y"],
                      button="left", buttons=buttons, clickCount=1)

    def type_into(self, selector: str, text: str) -> None:
        """Click the field, then type `text` as keyboard input (so React sees it)."""
        self.click(selector)
        self.call("Input.insertText", text=text)

    def text_of(self, selector: str) -> str:
        """The text of the first visible element matching `selector`, once there is one."""
        return self.wait_until(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
            ".map(el => el.offsetParent !== null && el.textContent.trim()).find(Boolean)",
            f"text in {selector!r}")

    def requests_sent(self) -> list[dict]:
        """Every request the page has made so far (CDP `Network.requestWillBeSent`)."""
        self.call("Runtime.evaluate", expression="0")  # drains events already queued on the socket
        return [event["params"]["request"] for event in self.events
                if event.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> Path:
        """Save what the tab shows as a PNG."""
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))
        return path


def _devtools_port(user_data_dir: Path, process: subprocess.Popen, log_path: Path) -> int:
    """The port Chromium picked for DevTools, from the file it writes once it listens."""
    def port():
        if process.poll() is not None:
            raise BrowserError(f"chromium exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            return int((user_data_dir / "DevToolsActivePort").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    return wait_until(port, "chromium to open its DevTools port", WAIT, 0.1)


@pytest.fixture
def page(tmp_path):
    """A blank tab in a fresh headless Chromium, killed (with every child process) afterwards."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(f"chromium is not installed; the /docs tests need it: {CHROMIUM_INSTALL}", pytrace=False)
    user_data_dir = tmp_path / "chromium-profile"
    log_path = tmp_path / "chromium.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tab = None
    try:
        port = _devtools_port(user_data_dir, process, log_path)
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=WAIT).json()
        tab = Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        yield tab
    finally:
        if tab:
            tab.close()
        # Chromium's renderers and zygotes share the session started above: end them all together.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture
def service(tmp_path):
    """The real service (gunicorn, one worker) with the in-process mock providers."""
    running = Gunicorn({"SMSP_MOCK_EMAIL_SERVICE": "true", "WEB_CONCURRENCY": "1"}, tmp_path / "gunicorn.log")
    try:
        yield running.start()
    finally:
        running.stop()
