"""Run the service the way production does (gunicorn, several workers) and talk to it over real HTTP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from sendmailproxy.config import Config
from testkit.polling import wait_until
from testkit.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "functional-test-key"
RAISE_HEADER = "X-Functional-Raise"  # makes tests/functional/faulty_wsgi.py raise inside the app


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` as a child process, with its output kept in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, app: str = "wsgi:app", config: str = "gunicorn.conf.py",
                 root: Path = ROOT):
        self.app = app  # a test may serve a wrapper of the production app (see faulty_wsgi.py)
        self.config = config  # the bench serves its baselines under their own config
        self.root = root  # and an earlier commit of the service from that commit's tree
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        # Each instance keeps its idempotency keys in a file of its own unless told otherwise: "one node".
        self.env = {**os.environ, "SMSP_BIND": f"127.0.0.1:{self.port}", "SMSP_API_KEY": API_KEY,
                    "SMSP_IDEMPOTENCY_STORE": f"sqlite://{log_path.with_suffix('.sqlite3').resolve()}", **env}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Gunicorn":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", self.config, self.app],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        workers = int(self.env.get("WEB_CONCURRENCY", Config.workers))
        wait_until(lambda: self._ready(workers), f"{self.app} to serve with every worker up", timeout, 0.1)
        return self

    def _ready(self, workers: int) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            return requests.get(self.url + "/healthcheck", timeout=1).ok and len(self.worker_pids()) == workers
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            return False

    def stop(self, timeout: float = 30) -> int | None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode if self.process else None

    def worker_pids(self) -> set[int]:
        """The master's live children, read from /proc."""
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                pids.add(int(stat.parent.name))
        return pids

    def health_of_every_worker(self, timeout: float = 10) -> dict[int, dict]:
        """One /healthcheck answer per live worker: fresh connections until every pid has answered."""
        seen: dict[int, dict] = {}

        def all_answered():
            try:
                body = requests.get(self.url + "/healthcheck", timeout=2,
                                    headers={"Connection": "close"}).json()
            except requests.RequestException:
                return False  # a busy worker may be slow to answer; the deadline still bounds the wait
            seen[body["pid"]] = body
            return self.worker_pids() <= set(seen)

        wait_until(all_answered, "every worker to answer /healthcheck", timeout, 0)
        return {pid: seen[pid] for pid in self.worker_pids() if pid in seen}

    def wait_for_workers(self, count: int, exclude: set[int] = frozenset(), timeout: float = 30) -> set[int]:
        """The worker pids once exactly `count` are alive and none of them is in `exclude`."""
        def ready():
            pids = self.worker_pids()
            return pids if len(pids) == count and not pids & exclude else None

        return wait_until(ready, f"{count} workers other than {sorted(exclude)}", timeout, 0.1)

    def circuits(self, provider: str = "mailgun", timeout: float = 10) -> dict[int, dict]:
        """Each live worker's circuit for `provider`, as /healthcheck shows it: pid -> state, failures, probes..."""
        return {pid: health["circuits"][provider] for pid, health in self.health_of_every_worker(timeout).items()}

    def circuit_states(self, provider: str = "mailgun", timeout: float = 10) -> dict[int, str]:
        """Each live worker's circuit state for `provider`: pid -> "closed" or "open"."""
        return {pid: circuit["state"] for pid, circuit in self.circuits(provider, timeout).items()}

    def log_offset(self) -> int:
        """Where the log ends now: a `log_records` bound that splits it into before and after."""
        return self.log_path.stat().st_size

    def log_records(self, start: int = 0, end: int | None = None) -> list[dict]:
        """The log's complete lines between two offsets, each parsed as the JSON object it must be."""
        with open(self.log_path, "rb") as log:
            log.seek(start)
            text = log.read(None if end is None else end - start).decode("utf-8")
        records = []
        for line in text.split("\n")[:-1]:  # a line still being written has no newline yet
            try:
                records.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"a log line that is not JSON: {line!r}") from None
            assert isinstance(records[-1], dict), f"a log line that is not a JSON object: {line!r}"
        return records

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def send(self, session: requests.Session | None = None, timeout: float = 15,
             request_headers: dict | None = None, **fields) -> requests.Response:
        """POST /email with the test key (and any `request_headers`) and a valid message, overridden by `fields`."""
        body = {"fromaddress": "sender@example.com", "toaddress": "rcpt@example.com",
                "subject": "functional test", "plaintextbody": "hello", **fields}
        return (session or requests).post(self.url + "/email", json=body, timeout=timeout,
                                          headers={"X-API-KEY": API_KEY, **(request_headers or {})})


def as_test_response(response: requests.Response) -> TestResponse:
    """A response off the wire as a werkzeug TestResponse, for checkers written for Flask's test client."""
    request = Request(EnvironBuilder(path=urlsplit(response.request.url).path,
                                     method=response.request.method).get_environ())
    return TestResponse(response.content, response.status_code, list(response.headers.items()), request)


def provider_env(fake, **overrides) -> dict[str, str]:
    """Environment pointing the service at the running fake providers."""
    return {
        **fake.service_env(),
        "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com",
        "SMSP_PROVIDER_TIMEOUT": "1",
        "SMSP_POLL_INTERVAL": "0.5",
        "WEB_CONCURRENCY": "3",
        "SMSP_THREADS": "8",
        **{key: str(value) for key, value in overrides.items()},
    }
