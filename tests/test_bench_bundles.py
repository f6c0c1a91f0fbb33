"""Smoke run of bench/bundles.py with tiny sizes, so the script cannot rot (no figure is checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_bench_bundles_runs_and_prints_its_tables():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bundles.py"), "--items", "6", "--rounds", "1"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    calls = next(line for line in proc.stdout.splitlines() if line.startswith("| model calls |"))
    assert calls.split("|")[3].strip() == "6"  # one call per item
    assert "| policy | n | accuracy single | accuracy bundle |" in proc.stdout
