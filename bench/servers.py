"""The servers a benchmark drives, all on 127.0.0.1: the service, the baselines, and the fake provider itself."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlencode

from bench.wrk import Target
from sendmailproxy.config import Config
from testkit.harness import API_KEY, ROOT, Gunicorn, provider_env

# The functional tests tune these for speed; the bench measures the service's own defaults instead.
TEST_TUNING = ("WEB_CONCURRENCY", "SMSP_THREADS", "SMSP_POLL_INTERVAL", "SMSP_PROVIDER_TIMEOUT")
_DEFAULTS = Config(api_keys=("unused",))
DEFAULT_WORKERS, DEFAULT_THREADS = _DEFAULTS.workers, _DEFAULTS.threads
MESSAGE = {"fromaddress": "sender@example.com", "toaddress": "rcpt@example.com",
           "subject": "benchmark", "plaintextbody": "hello from wrk"}
BASELINE_CONFIG = Path(__file__).with_name("baselines") / "gunicorn.conf.py"


def service_env(fake, **overrides) -> dict[str, str]:
    """The harness's environment for the fake, less the tests' tuning, plus a scenario's `overrides`."""
    env = {k: v for k, v in provider_env(fake).items() if k not in TEST_TUNING}
    return {**env, **{k: str(v) for k, v in overrides.items()}}


class Baseline(Gunicorn):
    """A baseline app (`bench.baselines.<module>:app`) under the baselines' gunicorn config."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path):
        super().__init__(env, log_path, app=f"bench.baselines.{module}:app", config=str(BASELINE_CONFIG))


def start(stack: contextlib.ExitStack, server: Gunicorn) -> Gunicorn:
    """Start `server`, stopped when `stack` closes, also when it failed to come up."""
    stack.callback(server.stop)
    return server.start()


def service(fake, log_dir: Path, name: str, **overrides) -> Gunicorn:
    """The service as production runs it (`gunicorn -c gunicorn.conf.py wsgi:app`), with `overrides` only."""
    return Gunicorn(service_env(fake, **overrides), log_dir / f"{name}.log")


def earlier(fake, log_dir: Path, rev: str, trees: Path) -> Gunicorn:
    """The service as of commit `rev`, run from that commit's tree (extracted once under `trees`) as
    production runs it, with this venv's packages; for before/after numbers from one run."""
    tree = trees / f"service-{rev}"
    if not tree.is_dir():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return Gunicorn(service_env(fake), log_dir / f"service-{rev}.log", root=tree)


def baseline(fake, log_dir: Path, module: str, workers: int = DEFAULT_WORKERS,
             threads: int = DEFAULT_THREADS) -> Baseline:
    """A baseline with the service's default worker and thread counts unless told otherwise."""
    env = service_env(fake, WEB_CONCURRENCY=workers, SMSP_THREADS=threads)
    return Baseline(module, env, log_dir / f"{module}.log")


def email_target(server: Gunicorn) -> Target:
    """POST /email with a valid message and the API key, as a client sends it."""
    return Target(server.url + "/email", json.dumps(MESSAGE),
                  {"Content-Type": "application/json", "X-API-KEY": API_KEY})


def mailgun_target(fake) -> Target:
    """The fake Mailgun endpoint itself: the ceiling any proxy in front of it can reach."""
    fields = {"from": MESSAGE["fromaddress"], "to": MESSAGE["toaddress"], "subject": MESSAGE["subject"],
              "text": MESSAGE["plaintextbody"]}
    credentials = base64.b64encode(f"api:{fake.options['mailgun_key']}".encode()).decode()
    return Target(fake.send_url("mailgun"), urlencode(fields),
                  {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {credentials}"})


def rss_mib(pid: int) -> float | None:
    """VmRSS of a process in MiB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pids) -> float:
    """User + system CPU time used so far by the live processes among `pids`."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return total / os.sysconf("SC_CLK_TCK")


def gunicorn_cpu(server: Gunicorn):
    """A reader of the CPU time of the master and its current workers."""
    return lambda: cpu_seconds([server.process.pid, *server.worker_pids()])


def memory(server: Gunicorn) -> dict[str, float | list[float]]:
    """The master's and each worker's RSS in MiB, now."""
    workers = [rss_mib(pid) for pid in sorted(server.worker_pids())]
    return {"master": rss_mib(server.process.pid), "workers": [w for w in workers if w is not None]}


class Sampler:
    """Calls `sample()` at once and then every `interval_s`, in a thread, while a `with` block runs."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        raise NotImplementedError


class PeakMemory(Sampler):
    """Samples a server's RSS while loads run; keeps each process's peak (workers by pid). Entering again keeps the
    peaks seen so far."""

    def __init__(self, server: Gunicorn, interval_s: float = 0.25):
        super().__init__(interval_s)
        self.server = server
        self.master = 0.0
        self.workers: dict[int, float] = {}

    def sample(self) -> None:
        self.master = max(self.master, rss_mib(self.server.process.pid) or 0.0)
        for pid in self.server.worker_pids():
            self.workers[pid] = max(self.workers.get(pid, 0.0), rss_mib(pid) or 0.0)

    def peak(self) -> dict[str, float | list[float]]:
        return {"master": self.master, "workers": [self.workers[pid] for pid in sorted(self.workers)]}


def clean_environment() -> None:
    """Keep a caller's WEB_CONCURRENCY or SMSP_* out of every server this process starts."""
    for name in [n for n in os.environ if n == "WEB_CONCURRENCY" or n.startswith("SMSP_")]:
        del os.environ[name]
