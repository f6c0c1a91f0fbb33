"""Smoke run of bench/batch_api.py with tiny sizes: it must run, exit 0 and print its table
(the numbers themselves are measured, never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_batch_api_bench_runs_and_prints_its_table() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "batch_api.py"), "--items", "40", "--rounds", "1",
         "--batch-duration", "0.3"],
        capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    out = proc.stdout
    assert "| side | wall s | CPU s | CPU ms/decision | model calls | cost per 1M decisions |" in out
    for side in ("online", "batch"):
        assert f"| {side} |" in out and "| 40 |" in out
    assert "Batch / online:" in out
