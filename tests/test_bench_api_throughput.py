"""Smoke run of bench/api_throughput.py with tiny sizes: it must run, exit 0 and print its table
(the numbers themselves are measured, never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_api_throughput_bench_runs_and_prints_its_table() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "api_throughput.py"), "--items", "60",
         "--concurrency", "8", "--latency", "0.01"],
        capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    out = proc.stdout
    for side in ("evalharness run (cold cache)", "bare openai.AsyncOpenAI loop",
                 "raw aiohttp loop", "evalharness run (cached rerun)"):
        assert f"| {side} |" in out
    assert "| side | wall s | items/s | share of ideal | CPU ms/item |" in out
    assert "Cached rerun: 60 decisions" in out
