"""Smoke test of bench/peers.py: the evalharness side with tiny sizes, so the script cannot rot.

The peers (inspect_ai, promptfoo) are not installed in CI; the script must then say how to
install them, or leave them out with a note. No figure is asserted (benchmarks measure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "peers.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=240, cwd=REPO)


def test_evalharness_side_prints_the_table(tmp_path: Path) -> None:
    out = _run("--items", "12", "--rounds", "1", "--concurrency", "4", "--latency", "0.01",
               "--skip-missing", "--peers-dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "skipping inspect_ai: not installed" in out.stdout
    assert "skipping promptfoo: not installed" in out.stdout
    assert "| tool | share of ideal | items/s | CPU ms/item |" in out.stdout
    row = next(line for line in out.stdout.splitlines() if line.startswith("| 1 | evalharness |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5:10] == ["0", "12", "12", "yes", "12"], row  # exit, requests, 200s, prompt, right


def test_missing_peer_fails_with_the_install_line(tmp_path: Path) -> None:
    out = _run("--items", "2", "--rounds", "1", "--tools", "evalharness,promptfoo",
               "--peers-dir", str(tmp_path))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "promptfoo is not installed" in lines[0]
    assert "bench/setup_peers.sh" in lines[0]
