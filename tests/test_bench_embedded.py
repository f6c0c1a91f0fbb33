"""Smoke run of bench/embedded.py with tiny sizes, so the script cannot rot (no figure is checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_bench_embedded_runs_and_prints_its_tables():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "embedded.py"), "--items", "2", "--rounds", "1",
         "--prefix-items", "2", "--prefix-rounds", "1", "--long-tokens", "200",
         "--no-reuse-items", "0"],  # the no-reuse bare loops add four model loads: skipped here
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "## Harness vs bare llama-cpp-python loop" in out
    assert "Harness / bare items/s:" in out
    assert "Same decisions: 2/2 labels equal" in out
    assert "## Policy-prefix reuse" in out
    assert "Long / short time per item:" in out
