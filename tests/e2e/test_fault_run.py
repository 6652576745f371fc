"""The accounting under faults, short form (bench/fault_run.py; the full runs are in
docs/reliability.md): events through the whole local stack while DynamoDB, SQS, SNS, SES, Comprehend
and the carrier fail part of the time and functions are killed right after a write, answered by
simulated customers. Nothing may be lost, doubled or left half done."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e

EVENTS = 40


def test_under_faults_and_crashes_every_event_answer_case_and_opt_out_is_accounted_for(tmp_path: Path) -> None:
    figures, log = tmp_path / "fault-run.json", tmp_path / "fault-run.log"
    run = subprocess.run([sys.executable, "bench/fault_run.py", "--events", str(EVENTS), "--timeout", "300",
                          "--json", str(figures), "--log", str(log)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert figures.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    a = json.loads(figures.read_text())
    assert a["must_be_zero"] == dict.fromkeys(a["must_be_zero"], 0), run.stdout[-3000:]
    assert a["log_findings"] == 0, run.stdout[-2000:]
    assert a["faulted_invocations"] >= 0.1 * a["invocations"], a["injected"]       # faults did happen
    assert a["accepted"] == EVENTS and a["malformed_refused"] == a["malformed"]
    assert a["answers_acknowledged"] >= 0.8 * EVENTS and a["cases"] == a["detractors"] > 0
    assert sum(a["bounded"].values()) <= 2, a["bounded"]       # the bounded windows (docs/reliability.md)
    assert run.returncode == 0, run.stdout[-3000:]
