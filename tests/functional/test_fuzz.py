"""Fuzzing: schemathesis (every check) against gunicorn's /swagger.json, with the fake providers behind it.

Run as the `st` command line in a subprocess: the run is bounded by examples and wall clock, its report is
kept under tmp_path, and it shares no Hypothesis database or warning filters with this pytest process.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.harness import API_KEY, ROOT

pytestmark = pytest.mark.functional

MAX_EXAMPLES = 50  # per operation, then fuzzing repeats until MAX_SECONDS are spent
MAX_SECONDS = 30  # schemathesis's own budget for the whole run
HARD_TIMEOUT = 120  # if schemathesis ignores its budget
MIN_CASES = 100  # fewer means the run was starved, not that the API is clean
# The coverage phase is left out: for this spec (unique lists of up to 1000 pattern-bound addresses) it
# spends over 100 s generating boundary values before its first request.
PHASES = "examples,fuzzing"


def test_schemathesis_finds_no_server_error_and_no_spec_mismatch(start_service, tmp_path):
    service = start_service(WEB_CONCURRENCY=2)
    command = [
        str(Path(sys.executable).parent / "st"), "run", service.url + "/swagger.json",
        "--phases", PHASES, "--checks", "all", "--header", f"X-API-KEY: {API_KEY}",
        "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_SECONDS),
        "--request-timeout", "10", "--workers", "1", "--generation-database", "none",
        "--no-color", "--output-truncate", "true", "--report", "junit", "--report-dir", str(tmp_path),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.functional.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=HARD_TIMEOUT)
    summary = run.stdout[run.stdout.rfind("SUMMARY") - 40:] if "SUMMARY" in run.stdout else run.stdout[-4000:]
    print(f"\n{summary}")
    assert run.returncode == 0, \
        f"schemathesis failed (exit {run.returncode}):\n{run.stdout[-20000:]}\n{run.stderr[-3000:]}"
    generated = re.search(r"(\d+) generated", summary)
    assert generated and int(generated[1]) >= MIN_CASES, "schemathesis ran too few cases to mean anything"
    assert "✅ Fuzzing" in summary, "the fuzzing phase did not run to completion"
