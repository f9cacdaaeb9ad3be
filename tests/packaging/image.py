"""The image's recipe, replayed on this machine without a Docker engine, from the Dockerfile itself.

Read from the Dockerfile, so the two cannot drift: the builder's pip command, run in a virtualenv of its own
(cached under .venv/ by the hash of requirements.txt and that command), the files it COPYs from the build context,
the final stage's ENV and WORKDIR, and its ENTRYPOINT/CMD. Left out, for want of an engine: the base image, the
non-root user, the read-only root filesystem, and the builder's byte-compiling.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

from testkit.dockerfile import DOCKERFILE, dockerfile_stages, instrs, parse_env, parse_from, strip_flags

ROOT = DOCKERFILE.parent
BASE_IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"  # the python image's PATH, less the sbin directories
INSTALL_TIMEOUT = 240  # seconds: a busy machine and a cold pip cache


class Recipe:
    """What the Dockerfile says about building and starting the image, with image paths mapped to this machine."""

    def __init__(self, root: Path):
        stages = dockerfile_stages(DOCKERFILE.read_text())
        builder = next(stage for stage in stages if parse_from(stage[0][1])[1] == "builder")
        final = stages[-1]
        installs = [shlex.split(run) for run in instrs(builder, "RUN") if "pip install" in run]
        assert len(installs) == 1, f"expected one pip install in the builder stage, got {installs}"
        self.install = installs[0]
        self.venv = PurePosixPath(self.install[0]).parents[1]  # /opt/venv/bin/pip -> /opt/venv
        self.build_env = {key: value for args in instrs(builder, "ENV") for key, value in parse_env(args).items()}
        self.env = {key: value for args in instrs(final, "ENV") for key, value in parse_env(args).items()}
        self.workdir = instrs(final, "WORKDIR")[-1]
        self.command = [arg for name in ("ENTRYPOINT", "CMD") for raw in instrs(final, name) for arg in json.loads(raw)]
        self.copies = self._context_copies(builder)
        for args in instrs(final, "COPY"):
            flags, rest = strip_flags(args)
            source, destination = shlex.split(rest)
            # One tree stands for both stages, so the final stage may only take paths as they are.
            assert any(flag.startswith("--from=") for flag in flags) and source == destination, args
        self.root = root
        key = (ROOT / "requirements.txt").read_bytes() + shlex.join(self.install).encode()
        self.venv_cache = ROOT / ".venv" / f"image-{hashlib.sha256(key).hexdigest()[:16]}"

    @staticmethod
    def _context_copies(stage) -> list[tuple[list[str], str]]:
        """(sources, absolute destination) of each COPY from the build context, in order."""
        copies, workdir = [], "/"
        for instr, args in stage:
            if instr == "WORKDIR":
                workdir = str(PurePosixPath(workdir, args))
            elif instr == "COPY":
                flags, rest = strip_flags(args)
                assert not flags, f"COPY {args}: only plain COPYs from the context are replayed"
                *sources, destination = shlex.split(rest)
                absolute = str(PurePosixPath(workdir, destination)) + ("/" if destination.endswith("/") else "")
                copies.append((sources, absolute))
        return copies

    def host(self, image_path: str) -> Path:
        """Where an absolute path of the image lives here: the cached venv, or under the image root."""
        path = PurePosixPath(image_path)
        if path == self.venv or self.venv in path.parents:
            return self.venv_cache / path.relative_to(self.venv)
        return self.root / path.relative_to("/")

    def copy_context(self) -> None:
        """Put exactly the files the Dockerfile COPYs where it puts them."""
        for sources, destination in self.copies:
            for source in sources:
                origin, target = ROOT / source, self.host(destination)
                if origin.is_dir():  # Docker copies a directory's contents
                    shutil.copytree(origin, target, dirs_exist_ok=True)
                else:
                    if destination.endswith("/") or len(sources) > 1:
                        target = target / origin.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)

    def build_venv(self) -> None:
        """`python -m venv`, then the Dockerfile's pip command; kept until requirements.txt or the command change."""
        if (self.venv_cache / ".complete").exists():
            return
        for stale in self.venv_cache.parent.glob("image-*"):  # this one half built, or for older requirements
            shutil.rmtree(stale)
        subprocess.run([sys.executable, "-m", "venv", str(self.venv_cache)], check=True, timeout=INSTALL_TIMEOUT)
        command = [str(self.host(arg)) if arg.startswith("/") else arg for arg in self.install]
        subprocess.run(command, check=True, timeout=INSTALL_TIMEOUT, env={**os.environ, **self.build_env})
        (self.venv_cache / ".complete").touch()

    def run_env(self, **overrides: str) -> dict[str, str]:
        """The final stage's ENV, as a container gets it (no environment of ours), plus `docker run -e` values."""
        env = {}
        for key, value in self.env.items():
            value = value.replace("$PATH", BASE_IMAGE_PATH)
            env[key] = ":".join(str(self.host(part)) if part.startswith("/") else part for part in value.split(":"))
        return {"PATH": BASE_IMAGE_PATH, "LANG": "C.UTF-8", **env, **overrides}
