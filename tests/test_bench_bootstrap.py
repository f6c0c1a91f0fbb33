"""Smoke run of bench/bootstrap.py at a tiny size, so the script cannot rot: each vectorised
statistic must give the library's interval (the speed ratio is not checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bootstrap_bench_runs_and_every_interval_agrees_with_the_library() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bootstrap.py"), "--items", "60",
                           "--resamples", "50", "--rounds", "1"],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "items |" in line]
    assert len(rows) == 3, proc.stdout
    assert all(line.rstrip().endswith("| yes |") for line in rows), proc.stdout
