"""It starts on a fresh machine: the image's recipe from requirements.txt alone, and ./scripts/run in a fresh clone."""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from testkit.polling import wait_until
from testkit.ports import free_port
from tests.packaging.image import INSTALL_TIMEOUT, ROOT, Recipe

pytestmark = pytest.mark.functional

# The request of the original service's README (and of ./scripts/run's banner), byte for byte.
SEED_BODY = (b'{"fromaddress":"an@email.com","plaintextbody":"test_body","subject":"test",'
             b'"toaddress":"another@email.com"}')
API_KEY = "image-test-key"
START_TIMEOUT = 60  # seconds for gunicorn to serve once its dependencies are installed


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


@contextlib.contextmanager
def serving(command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, url: str, timeout: float):
    """Run `command` in a process group of its own until `url`/healthcheck answers; stop the whole group after."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{command} exited with {process.returncode}:\n{log_path.read_text()[-5000:]}")
        try:
            return requests.get(url + "/healthcheck", timeout=2).ok
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, f"{shlex.join(command)} to serve {url}", timeout, 0.2)
        yield
    except BaseException:
        print(f"--- {log_path} (tail) ---\n{log_path.read_text()[-5000:]}")
        raise
    finally:
        # As a container runtime stops it: SIGTERM to the entry point (gunicorn's master), which stops its
        # workers gracefully. (SIGTERM to the whole group races: a worker that exits first is replaced by one
        # the signal never reached.) Then the whole group must be gone within the graceful timeout.
        process.send_signal(signal.SIGTERM)
        try:
            wait_until(lambda: not group_members(process.pid), "the service and its workers to stop", 45, 0.1)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def assert_serves_the_seed_message(url: str, key: str) -> None:
    """The README's curl gets a 200 naming the provider; /healthcheck, /docs and /swagger.json answer."""
    sent = requests.post(url + "/email", data=SEED_BODY, timeout=10,
                         headers={"X-API-KEY": key, "Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["provider"] and sent.json()["id"]
    assert requests.get(url + "/healthcheck", timeout=10).status_code == 200
    docs = requests.get(url + "/docs", timeout=10)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert requests.get(url + "/swagger.json", timeout=10).json()["paths"]["/email"]


@pytest.mark.timeout(INSTALL_TIMEOUT + START_TIMEOUT + 60)
def test_the_image_recipe_serves_from_requirements_txt_alone(tmp_path):
    recipe = Recipe(tmp_path / "image")
    recipe.copy_context()
    recipe.build_venv()
    env = recipe.run_env(SMSP_MOCK_EMAIL_SERVICE="true", SMSP_API_KEY=API_KEY,
                         SMSP_BIND=f"127.0.0.1:{free_port()}")
    executable = shutil.which(recipe.command[0], path=env["PATH"])
    assert executable and Path(executable).is_relative_to(recipe.venv_cache), \
        f"{recipe.command[0]} would not come from the image's venv but from {executable}"
    url = "http://" + env["SMSP_BIND"]
    with serving(recipe.command, cwd=recipe.host(recipe.workdir), env=env, log_path=tmp_path / "image.log",
                 url=url, timeout=START_TIMEOUT):
        assert_serves_the_seed_message(url, API_KEY)


@pytest.mark.timeout(INSTALL_TIMEOUT + START_TIMEOUT + 60)
def test_scripts_run_in_a_fresh_clone_serves_the_seed_message(tmp_path):
    # A clone holds only what is committed: exactly what a newcomer gets.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    bind = f"127.0.0.1:{free_port()}"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    log_path = tmp_path / "run.log"
    # It sets up the clone's own .venv first (from pip's cache, where warm), so the wait covers an install.
    with serving(["./scripts/run"], cwd=clone, env={**env, "SMSP_BIND": bind}, log_path=log_path,
                 url=f"http://{bind}", timeout=INSTALL_TIMEOUT + START_TIMEOUT):
        key = re.search(r"dev key: (\S+)", log_path.read_text())[1]  # as the banner tells the newcomer
        assert_serves_the_seed_message(f"http://{bind}", key)
