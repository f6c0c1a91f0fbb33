"""Smoke run of bench/viewer.py with tiny sizes: it must run, exit 0 and print its table
(the numbers themselves are measured, never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_viewer_bench_runs_and_prints_its_table() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "viewer.py"), "--decisions", "600",
                           "--repeats", "1"],
                          capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    out = proc.stdout
    assert "| filter | matching | GET /api/rows ms |" in out and "| `(none)` | 600 |" in out
    assert "open_review (read the run, build rows and queue)" in out
    assert "`evalharness view RUN`, process start to serving" in out
    assert "headless Chromium: page to first table" in out
