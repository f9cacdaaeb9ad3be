"""Fuzzing: schemathesis (every check) against gunicorn's /swagger.json, with the fake providers behind it.

Run as the `st` command line in a subprocess: its report is kept under tmp_path, and it shares no Hypothesis
database or warning filters with this pytest process. The run is bounded by a case count, not a clock, so a busy
machine makes it slower, never smaller.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.harness import API_KEY, ROOT

pytestmark = pytest.mark.functional

MAX_EXAMPLES = 300  # cases per operation and generation mode (schema-valid, schema-invalid)
# Seconds, only for a hung schemathesis. With the events, webhooks and admin routes the spec has 13 operations,
# and a run takes 60-80 s on an idle 2-core machine, several times that under load: the guard must not judge speed.
HARD_TIMEOUT = 600
# The coverage phase is left out: for this spec (unique lists of up to 1000 pattern-bound addresses) it
# spends over 90 s generating boundary values, which CI cannot afford on every run.
PHASES = "examples,fuzzing"


@pytest.mark.timeout(HARD_TIMEOUT + 60)  # the run's own bound, not setup.cfg's 120 s for one test
def test_schemathesis_finds_no_server_error_and_no_spec_mismatch(start_service, tmp_path):
    service = start_service(WEB_CONCURRENCY=2)
    command = [
        str(Path(sys.executable).parent / "st"), "run", service.url + "/swagger.json",
        "--phases", PHASES, "--checks", "all", "--header", f"X-API-KEY: {API_KEY}",
        "--max-examples", str(MAX_EXAMPLES), "--request-timeout", "10", "--workers", "1",
        "--generation-database", "none", "--no-color", "--output-truncate", "true",
        "--report", "json,junit", "--report-dir", str(tmp_path),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.functional.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=HARD_TIMEOUT)
    summary = run.stdout[run.stdout.rfind("SUMMARY") - 40:] if "SUMMARY" in run.stdout else run.stdout[-4000:]
    print(f"\n{summary}")
    assert run.returncode == 0, \
        f"schemathesis failed (exit {run.returncode}):\n{run.stdout[-20000:]}\n{run.stderr[-3000:]}"
    report = json.loads(next(tmp_path.glob("json-*.json")).read_text())
    assert report["complete"] and report["phases"]["fuzzing"]["status"] == "success", report["phases"]
    # Fewer cases than one operation's budget means the run was starved or cut short, not that the API is clean.
    assert report["test_cases"]["generated"] >= MAX_EXAMPLES, report["test_cases"]
    accepted = report["valid_rates"]["POST /email"]["fuzzing"]["accepted"]
    assert accepted >= MAX_EXAMPLES // 2, f"only {accepted} schema-valid messages were sent and accepted"
