"""Disk and interrupts: a run folder that cannot be written fails with one line before any model
call; a disk that fills up mid-run (a real file-size limit, RLIMIT_FSIZE, in the run's process)
stops it with one line naming the file, loses no finished decision, leaves the response cache
intact, and ``--resume`` finishes it exactly like an uninterrupted run.

Ctrl-C mid-run is covered by ``test_ctrl_c_stops_cleanly_and_resume_finishes`` in
``tests/test_llm_faults.py`` (exit 130, status ``interrupted``, resume finishes).
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.execution.cache import CACHE_FILE
from evalharness.execution.rundir import RunDir
from evalharness.testing.stub_server import StubServer

from conftest import read_jsonl
from test_crashes import _config, _outcomes, _texts


def _unwritable(tmp_path: Path, how: str) -> Path:
    """An --out folder that cannot be created or written, also as root."""
    if how == "parent_is_a_file":
        blocker = tmp_path / "results.txt"
        blocker.write_text("a file where the results folder should go\n")
        return blocker / "runs"
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder anyway")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "runs"


@pytest.mark.parametrize("how", ["parent_is_a_file", "read_only_parent"])
def test_unwritable_run_folder_fails_before_any_model_call(how, write_config, tmp_path, cli_run):
    with StubServer() as server:
        path = write_config(_config(tmp_path, server.url, _texts(4), "disk"))
        out = _unwritable(tmp_path, how)
        result = cli_run("run", path, "--out", out, "--run-id", "r")
        assert server.stats()["completions"] == 0, "a model was called"
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"error: {out / 'r'}: cannot write the run folder: ")
    assert "--out" in lines[0]
    assert not (out / "r" / "manifest.json").exists()


def _file_size_limit(limit: int):
    def preexec() -> None:  # in the child: writes past ``limit`` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_full_disk_mid_run_stops_cleanly_and_resume_loses_nothing(write_config, tmp_path):
    n = 160
    with StubServer(latency_s=0.002) as server:
        path = write_config(_config(tmp_path, server.url, _texts(n), "disk"))
        out = tmp_path / "results"
        whole = run_eval(path, out_dir=out, run_id="whole", use_cache=False, live_progress=False)
        sizes = {name: (whole.run_dir / name).stat().st_size
                 for name in ("items.jsonl", "manifest.json", "decisions.jsonl")}
        limit = sizes["decisions.jsonl"] // 2
        assert limit > max(sizes["items.jsonl"], sizes["manifest.json"]) + 8192, sizes

        full = subprocess.run(
            [sys.executable, "-m", "evalharness", "run", str(path), "--out", str(out),
             "--run-id", "full"], capture_output=True, text=True, timeout=120,
            preexec_fn=_file_size_limit(limit))
        decisions = out / "full" / "decisions.jsonl"
        assert full.returncode == 2, (full.returncode, full.stderr)
        lines = [line for line in full.stderr.splitlines() if line.startswith("error")]
        assert len(lines) == 1 and "Traceback" not in full.stderr, full.stderr  # (and progress)
        assert lines[0].startswith(f"error: {decisions}: cannot write a decision: File too large "
                                   "(disk full or file too large)"), lines[0]
        assert "--resume" in lines[0]
        saved = read_jsonl(decisions)  # every line whole: the torn one was cut off
        assert 0 < len(saved) < n and decisions.read_bytes().endswith(b"\n")
        assert RunDir(out / "full").read_manifest().status == "failed"

        cache = Path(os.environ["EVALHARNESS_HOME"]) / "cache" / CACHE_FILE
        db = sqlite3.connect(cache)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        cached = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        db.close()
        assert cached <= len(saved), "a response was cached whose decision was not written"

        asked = server.stats()["completions"]
        resumed = run_eval(path, out_dir=out, run_id="full", resume=True, live_progress=False)
        assert server.stats()["completions"] - asked == n - len(saved), "asked again for a saved one"
    rows = read_jsonl(resumed.run_dir / "decisions.jsonl")
    assert rows[: len(saved)] == saved, "a finished decision was lost or changed"
    assert resumed.manifest.status == "complete"
    assert _outcomes(resumed.run_dir) == _outcomes(whole.run_dir)
    print(f"disk full after {len(saved)} of {n} decisions (limit {limit} B); {cached} responses "
          "cached before the limit; resume finished")
