"""``run --executor ray`` on a local Ray instance with 2 workers: the shards run as Ray tasks and
merge into a run equal to the local one; a worker killed mid-shard is retried by Ray, which
resumes its folder without deciding anything twice; Ctrl-C stops the run with exit 130 and
``--resume`` finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.testing.stub_server import StubServer

from conftest import read_jsonl
from test_shards import _config, _plain

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def _with_llm(tmp_path: Path, url: str) -> dict:
    config = _config(tmp_path)
    config["deciders"].append({"name": "llm", "kind": "llm", "model": "openai/stub",
                               "api_base": url, "concurrency": 2,
                               "price": {"input_per_mtok": 0.0, "output_per_mtok": 0.0}})
    return config


def _metrics(run: Path) -> dict:
    """metrics.json without what a clock measured (the stub's latencies differ run to run)."""
    doc = _plain(run / "metrics.json")
    for row in doc["results"]:
        for key in [k for k in row if k.startswith("latency_")]:
            row.pop(key)
    return doc


def _labels(run: Path) -> dict:
    return {(r["item_id"], r["policy"], r["decider"], r.get("rater")): (r["label"], r["outcome"])
            for r in read_jsonl(run / "decisions.jsonl")}


def _decisions(folder: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in folder.glob("*/decisions.jsonl"))


def _unique(run: Path) -> bool:
    keys = [(r["item_id"], r["policy"], r["decider"]) for r in read_jsonl(run / "decisions.jsonl")]
    return len(keys) == len(set(keys))


def test_ray_shards_merge_into_the_local_run_and_a_killed_worker_is_retried(tmp_path,
                                                                            write_config):
    from evalharness.api import run_on_ray

    with StubServer(latency_s=0.02) as server:
        config = write_config(_with_llm(tmp_path, server.url))
        local = run_eval(config, out_dir=tmp_path / "runs", run_id="local", use_cache=False,
                         live_progress=False)
        shards = tmp_path / "runs" / "ray-shards"
        killed: list[int] = []

        def kill_a_worker() -> None:  # bounded: gives up after 60 s
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for lock in shards.glob("*/.lock"):
                    rows = (lock.parent / "decisions.jsonl")
                    llm = rows.read_text().count('"decider":"llm"') if rows.exists() else 0
                    pid = lock.read_text().strip()
                    if llm >= 30 and pid:
                        os.kill(int(pid), signal.SIGKILL)
                        killed.append(llm)
                        return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_worker, daemon=True)
        killer.start()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        try:
            merged = run_on_ray(config, shards=2, out_dir=tmp_path / "runs", run_id="ray",
                                use_cache=False, every_s=1)
        finally:
            ray.shutdown()
        killer.join(timeout=65)
    assert killed, "no worker was caught deciding"
    assert merged.exit_code == 0
    for run in (shards / "ray-shard1of2", shards / "ray-shard2of2", merged.run_dir):
        assert _unique(run)
    assert _labels(merged.run_dir) == _labels(local.run_dir)
    assert _metrics(merged.run_dir) == _metrics(local.run_dir)
    assert json.loads((merged.run_dir / "manifest.json").read_text())["merged_from"] == [
        "ray-shard1of2", "ray-shard2of2"]


def test_ctrl_c_stops_a_ray_run_and_resume_finishes_it(tmp_path, write_config):
    with StubServer(latency_s=0.05) as server:
        config = write_config(_with_llm(tmp_path, server.url))
        out = tmp_path / "runs"
        argv = [sys.executable, "-m", "evalharness", "run", str(config), "--executor", "ray",
                "--shards", "2", "--out", str(out), "--run-id", "r", "--no-cache"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        deadline = time.monotonic() + 90
        while (time.monotonic() < deadline and process.poll() is None
               and _decisions(out / "r-shards") < 400):
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "--resume --run-id r" in stderr and "Traceback" not in stderr
        assert not (out / "r" / "manifest.json").exists()
        resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip().splitlines()[-1] == str(out / "r")
        local = run_eval(config, out_dir=out, run_id="local", use_cache=False,
                         live_progress=False)
    assert _unique(out / "r")
    assert _labels(out / "r") == _labels(local.run_dir)
    assert _metrics(out / "r") == _metrics(local.run_dir)


def test_ray_flags_are_checked(tmp_path, write_config, cli_run):
    config = write_config(_config(tmp_path))
    for args, needle in ((["--shards", "2"], "apply to --executor ray"),
                         (["--executor", "ray", "--shard", "1/2"], "makes the shards itself"),
                         (["--executor", "ray", "--resume"], "needs the --run-id")):
        result = cli_run("run", config, "--out", tmp_path / "runs", *args)
        assert result.exit_code == 2 and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
