"""Crashes: a run SIGKILLed at five random points and resumed each time ends exactly like an
uninterrupted run without asking again for anything finished; two runs sharing one cache at the
same time lose nothing and corrupt nothing; a native crash of the embedded model (a real SIGSEGV
in the probe process) is one clear line and exit 2, and the run says it did not finish.

Everything runs the real CLI in subprocesses against the loopback stub server, whose request log
(``t``, ``item``) lives in this process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.deciders.embedded import default_gguf
from evalharness.deciders.native_probe import probe_embedded
from evalharness.execution.cache import CACHE_FILE
from evalharness.execution.rundir import RunDir
from evalharness.testing.stub_server import StubServer

from conftest import FIXTURES, MINI, REPO, read_jsonl

PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5}
NATIVE_CRASH = FIXTURES / "native_crash"  # its sitecustomize.py makes Llama.eval SIGSEGV


def _texts(n: int) -> list[str]:
    return [f"post {i} {'i hate them' if i % 3 == 0 else 'what a day'}" for i in range(n)]


def _config(tmp_path: Path, url: str, texts: list[str], name: str, start: int = 0) -> dict:
    golden = tmp_path / f"{name}.jsonl"
    with open(golden, "w") as fh:
        for i, text in enumerate(texts, start=start):
            gold = "hate" if "hate" in text else "none"
            fh.write(json.dumps({"id": f"x{i:03d}", "text": text,
                                 "labels": {"hate_speech": gold}}) + "\n")
    return {
        "name": name,
        "golden_set": {"path": str(golden)},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [{"name": "stub-llm", "kind": "llm", "model": "openai/stub", "api_base": url,
                      "price": PRICE, "structured_output": "json_schema", "concurrency": 2,
                      "timeout_s": 5, "max_attempts": 2}],
    }


def _cli(*args: object, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalharness", "run", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _outcomes(run: Path) -> dict[tuple[str, str, str], tuple[str | None, str]]:
    return {d.key: (d.label, d.outcome) for d in RunDir(run).read_decisions()}


def test_five_sigkills_then_resume_equal_an_uninterrupted_run(write_config, tmp_path):
    n = 60
    texts = _texts(n)
    kill_at = sorted(random.Random(13).sample(range(3, n - 20), 5))  # room to be caught running
    with StubServer(latency_s=0.06) as server:
        path = write_config(_config(tmp_path, server.url, texts, "crashes"))
        out = tmp_path / "results"
        decisions = out / "killed" / "decisions.jsonl"
        trials = []  # (decisions on disk at the kill, items finished, when the next process began)
        for trial, k in enumerate(kill_at):
            resume = ("--resume",) if trial else ()
            process = _cli(path, "--out", out, "--run-id", "killed", "--no-cache", *resume)
            deadline = time.monotonic() + 60
            while _lines(decisions) < k and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert process.poll() is None, f"the run ended before {k} decisions: {process.stderr}"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            assert process.returncode == -signal.SIGKILL
            finished = {row["item_id"] for row in read_jsonl(decisions) if row["outcome"] != "error"}
            assert len(finished) >= k
            raw = json.loads((out / "killed" / "manifest.json").read_text())["status"]
            assert raw == "running"  # what the killed process left behind...
            assert RunDir(out / "killed").read_manifest().status == "interrupted"  # ...is read so
            trials.append((len(finished), finished, time.time()))
        resumed = run_eval(path, out_dir=out, run_id="killed", resume=True, use_cache=False,
                           live_progress=False)
        assert resumed.exit_code == 0
        log = server.requests
        whole = run_eval(path, out_dir=out, run_id="whole", use_cache=False, live_progress=False)

    text_of = {f"x{i:03d}": text for i, text in enumerate(texts)}
    asked_again = sum(
        1 for count, finished, next_began in trials for r in log
        if r["t"] >= next_began and r["item"] in {text_of[i] for i in finished})
    assert asked_again == 0, f"{asked_again} requests for items finished before a kill"
    assert [count for count, _, _ in trials] == sorted(count for count, _, _ in trials)

    rows = read_jsonl(decisions)
    keys = [(r["item_id"], r["policy"], r["decider"]) for r in rows]
    assert len(keys) == len(set(keys)) == n, "every decision once"
    assert RunDir(out / "killed").read_manifest().status == "complete"
    assert _outcomes(out / "killed") == _outcomes(whole.run_dir)
    print(f"kills at decision counts {[c for c, _, _ in trials]} (targets {kill_at}); "
          f"requests again for finished items: {asked_again}")


def test_two_runs_share_one_cache_at_once(write_config, tmp_path):
    texts = _texts(90)
    with StubServer(latency_s=0.01) as server:
        configs = {
            "left": _config(tmp_path, server.url, texts[:60], "left"),
            "right": _config(tmp_path, server.url, texts[30:], "right", start=30),
            "union": _config(tmp_path, server.url, texts, "union"),
        }
        for config in configs.values():
            config["deciders"][0]["concurrency"] = 4
        paths = {name: write_config(c, f"{name}.yaml") for name, c in configs.items()}
        out = tmp_path / "results"
        runs = [_cli(paths[name], "--out", out, "--run-id", name) for name in ("left", "right")]
        for run in runs:  # both open the new cache at the same moment, then write concurrently
            assert run.wait(timeout=90) == 0, run.stderr.read() if run.stderr else ""
        asked = server.stats()["completions"]
        assert asked >= 90

        db = sqlite3.connect(Path(os.environ["EVALHARNESS_HOME"]) / "cache" / CACHE_FILE)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        entries = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        db.close()
        assert entries == 90, "one entry per distinct request, none lost"

        third = run_eval(paths["union"], out_dir=out, run_id="union", live_progress=False)
        assert server.stats()["completions"] == asked, "the third run asked the server"
    decided = RunDir(third.run_dir).read_decisions()
    assert len(decided) == 90 and all(d.cached for d in decided)
    for name in ("left", "right"):
        assert {k: v for k, v in _outcomes(out / name).items()} == {
            k: v for k, v in _outcomes(third.run_dir).items() if k in _outcomes(out / name)}
    print(f"shared cache: {entries} entries checked, integrity ok, third run 0 requests")


def _embedded_config(tmp_path: Path) -> dict:
    return {
        "name": "native",
        "golden_set": {"path": str(MINI / "items.jsonl")},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [{"name": "smollm2", "kind": "llm", "model": "embedded", "threads": 2}],
    }


@pytest.mark.slow
def test_native_crash_of_the_embedded_model_is_one_line_and_exit_2(write_config, tmp_path):
    pytest.importorskip("llama_cpp")
    path = write_config(_embedded_config(tmp_path))
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(NATIVE_CRASH), "EVALHARNESS_TEST_NATIVE_CRASH": "1"}
    run = subprocess.run([sys.executable, "-m", "evalharness", "run", str(path), "--out", str(out),
                          "--run-id", "r", "--limit", "2"],
                         capture_output=True, text=True, env=env, timeout=180)
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "SIGSEGV" in lines[0] and "AVX-512/AMX" in lines[0]
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in lines[0] and "--force-reinstall llama-cpp-python" in lines[0]
    assert json.loads((out / "r" / "manifest.json").read_text())["status"] == "failed"
    assert RunDir(out / "r").read_decisions() == []
    probes = Path(os.environ["EVALHARNESS_HOME"]) / "cache" / "native_probe.json"
    assert not probes.exists(), "a failed probe is never remembered"


@pytest.mark.slow
def test_probe_passes_once_then_is_remembered(write_config, tmp_path):
    pytest.importorskip("llama_cpp")
    path = write_config(_embedded_config(tmp_path))
    run = run_eval(path, out_dir=tmp_path / "results", run_id="a", limit=2, live_progress=False)
    assert run.manifest.status == "complete"
    first = next(d for d in run.manifest.deciders if d["name"] == "smollm2")["native_probe_s"]
    start = time.perf_counter()
    again = probe_embedded("smollm2", default_gguf(), threads=2)  # what the next run does
    cached = time.perf_counter() - start
    assert first > 0 and again == 0.0 and cached < 0.5
    print(f"native probe: {first:.2f} s on the first run, {cached * 1000:.1f} ms when remembered")
