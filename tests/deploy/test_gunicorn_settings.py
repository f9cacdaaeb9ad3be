"""gunicorn.conf.py as gunicorn reads it, with the ConfigMap's environment, against the Deployment."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy.support import REPO, clean_env, prestop_sleep_seconds

# Run in a child process: gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR and validates the environment on import.
_GUNICORN_PROBE = r"""
import json, runpy
from gunicorn.config import Config
cfg = Config()
ns = runpy.run_path("gunicorn.conf.py")
for key, value in ns.items():
    if key in cfg.settings:
        cfg.set(key, value)
print(json.dumps({
    "bind": cfg.bind, "graceful_timeout": cfg.graceful_timeout,
    "workers": cfg.workers, "threads": cfg.threads,
    "worker_class": cfg.worker_class_str, "worker_tmp_dir": cfg.worker_tmp_dir,
}))
"""


@pytest.fixture(scope="module")
def gunicorn_settings(tmp_path_factory, configmap, placeholder_secrets) -> dict:
    """The settings gunicorn takes from gunicorn.conf.py in a pod's environment."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    env = clean_env(tmp_path, **configmap["data"], **placeholder_secrets,
                    PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    proc = subprocess.run([sys.executable, "-c", _GUNICORN_PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gunicorn_listens_on_every_interface_on_the_image_port(gunicorn_settings, image_port):
    assert any(
        b.rsplit(":", 1)[-1] == str(image_port) and b.rsplit(":", 1)[0] in ("0.0.0.0", "[::]", "")
        for b in gunicorn_settings["bind"]
    ), f"gunicorn must listen on all interfaces port {image_port}: {gunicorn_settings['bind']}"


def test_graceful_shutdown_budget(pod_spec, container, gunicorn_settings):
    grace = pod_spec["terminationGracePeriodSeconds"]
    sleep = prestop_sleep_seconds(container)
    graceful = gunicorn_settings["graceful_timeout"]
    assert 0 < sleep and sleep + graceful < grace, f"preStop {sleep}s + graceful_timeout {graceful}s must fit in {grace}s"


def test_workers_and_threads_as_the_configmap_says(gunicorn_settings, configmap):
    assert gunicorn_settings["worker_class"] == "gthread"
    assert gunicorn_settings["workers"] == int(configmap["data"]["WEB_CONCURRENCY"])
    assert gunicorn_settings["threads"] == int(configmap["data"]["SMSP_THREADS"]), "SMSP_THREADS not honoured"


def test_worker_heartbeats_are_writable_on_a_read_only_root(gunicorn_settings):
    tmp_dir = gunicorn_settings["worker_tmp_dir"]
    assert tmp_dir is None or tmp_dir.startswith(("/tmp", "/dev/shm")), (
        f"worker_tmp_dir {tmp_dir} is not writable with a read-only root FS"
    )
