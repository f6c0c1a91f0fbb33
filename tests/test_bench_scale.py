"""Smoke run of bench/scale.py at a tiny size, so the script cannot rot (no figure is checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_scale_bench_runs_and_prints_its_table(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), EVALHARNESS_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--decisions", "300",
                           "--keep", str(tmp_path / "work"), "--timeout", "120"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "| command | code | wall s |" in out
    for command in ("run", "report", "route"):
        assert f"| {command} | branch |" in out
    assert (tmp_path / "work" / "case" / "runs-branch" / "r" / "routing.yaml").exists()
