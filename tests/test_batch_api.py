"""Provider batch APIs (``batch: true``), against the stub server's loopback Batch API: files,
batches, status transitions, output and error files, expiry. A batched decider's decisions equal
an online decider's, at litellm's batch price; failed and expired lines are ``error`` outcomes
that ``--resume`` asks again; a run killed between submit and completion polls the batch it
submitted on ``--resume`` — also when it died before it could record the batch's id — and never
submits (pays) again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.execution.rundir import RunDir
from evalharness.testing.stub_server import StubServer

from conftest import REPO, read_jsonl

N = 24


def _golden(tmp_path: Path, n: int = N, fault_at: int | None = None) -> Path:
    path = tmp_path / "items.jsonl"
    rows = []
    for i in range(n):
        text = ("I hate them" if i % 3 == 0 else "a calm note") + f" {i}"
        if i == fault_at:
            text += " FAULTALWAYS500"
        gold = "hate" if i % 3 == 0 else "none"
        rows.append(json.dumps({"id": f"b{i:02d}", "text": text,
                                "labels": {"hate_speech": gold}}) + "\n")
    path.write_text("".join(rows))
    return path


def _decider(url: str, name: str = "gpt", **extra) -> dict:
    return {"name": name, "kind": "llm", "model": "openai/gpt-4o-mini", "api_base": url,
            "batch": True, "batch_poll_s": 0.1, "max_attempts": 2, **extra}


def _config(golden: Path, *deciders: dict) -> dict:
    return {"name": "batch", "golden_set": {"path": str(golden)}, "policies": ["hate_speech"],
            "policies_dir": str(REPO / "policies"), "max_error_rate": 1.0,
            "deciders": list(deciders)}


def _events(run_dir: Path) -> list[dict]:
    return read_jsonl(run_dir / "batches.jsonl")


def test_a_batched_decider_decides_as_an_online_one_at_the_batch_price(tmp_path, write_config):
    golden = _golden(tmp_path, fault_at=4)
    with StubServer(batch_duration_s=0.5) as server:
        online = {**_decider(server.url, "online"), "batch": False, "max_attempts": 1}
        config = write_config(_config(golden, _decider(server.url), online))
        result = run_eval(config, out_dir=tmp_path / "runs", use_cache=False,
                          live_progress=False)
        batches = server.stats()["batches"]
        completions = server.stats()["completions"]
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    by = {(r["decider"], r["item_id"]): r for r in rows}
    assert len(rows) == 2 * N
    assert batches["files"] == batches["created"] == 1 and batches["lines_answered"] == N
    assert completions == N  # the online decider's calls; the batched one made none online
    for i in range(N):
        batched, direct = by[("gpt", f"b{i:02d}")], by[("online", f"b{i:02d}")]
        assert (batched["label"], batched["outcome"]) == (direct["label"], direct["outcome"])
        if batched["outcome"] == "ok":  # tokens alike; the stub's prefix cache depends on order
            for tokens in ("prompt_tokens", "completion_tokens"):
                assert batched["usage"][tokens] == direct["usage"][tokens] > 0
    failed = by[("gpt", "b04")]
    assert failed["outcome"] == "error" and "HTTP 500" in failed["error"]
    assert "batch batch_" in failed["error"]

    # the price: litellm's map's batch rates (half the online ones for this model), every
    # prompt token at the batch input rate
    import litellm  # the map is litellm's file, read here through litellm itself

    entry = litellm.model_cost["gpt-4o-mini"]
    assert entry["input_cost_per_token_batches"] == entry["input_cost_per_token"] / 2
    for i in set(range(N)) - {4}:
        ok = by[("gpt", f"b{i:02d}")]
        expected = (ok["usage"]["prompt_tokens"] * entry["input_cost_per_token_batches"]
                    + ok["usage"]["completion_tokens"] * entry["output_cost_per_token_batches"])
        assert ok["cost_usd"] == pytest.approx(expected, rel=1e-12)
    assert "batch" in result.manifest.price_table["gpt"]["source"]

    events = _events(result.run_dir)
    assert [e["event"] for e in events] == ["submitting", "submitted", "collected"]
    assert events[2]["status"] == "completed" and events[2]["decided"] == N
    assert result.manifest.deciders[0]["batches"] == [
        {"batch_id": events[1]["batch_id"], "status": "completed", "requests": N,
         "input_file_id": events[0]["input_file_id"]}]


def test_expired_lines_are_errors_and_resume_submits_only_them(tmp_path, write_config):
    golden = _golden(tmp_path)
    with StubServer(batch_duration_s=0.3, batch_answer_limit=10) as server:
        config = write_config(_config(golden, _decider(server.url)))
        first = run_eval(config, out_dir=tmp_path / "runs", run_id="r", live_progress=False)
        rows = read_jsonl(first.run_dir / "decisions.jsonl")
        expired = [r for r in rows if r["outcome"] == "error"]
        assert len(rows) == N and len(expired) == N - 10
        assert all("batch_expired" in r["error"] for r in expired)
        assert _events(first.run_dir)[-1]["status"] == "expired"

        server._stub.batches.answer_limit = None  # the provider keeps up this time
        second = run_eval(config, out_dir=tmp_path / "runs", run_id="r", resume=True,
                          live_progress=False)
        batches = server.stats()["batches"]
        # a rerun answers every item from the cache: no batch at all
        third = run_eval(config, out_dir=tmp_path / "runs", live_progress=False)
        assert server.stats()["batches"]["files"] == batches["files"]
    assert third.manifest.counts["cached"] == N
    rows = read_jsonl(second.run_dir / "decisions.jsonl")
    assert len(rows) == N and all(r["outcome"] == "ok" for r in rows)
    assert batches["created"] == 2 and batches["lines_answered"] == N  # 10, then the other 14
    submitted = [e for e in _events(second.run_dir) if e["event"] == "submitting"]
    assert [e["requests"] for e in submitted] == [N, N - 10]
    assert second.manifest.counts["model_calls_this_session"] == N - 10


def _cli(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalharness", "run", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("lose_the_id", [False, True], ids=["id-recorded", "id-lost"])
def test_a_kill_between_submit_and_completion_polls_the_same_batch(tmp_path, write_config,
                                                                   lose_the_id):
    golden = _golden(tmp_path)
    with StubServer(batch_duration_s=3.0) as server:
        config = write_config(_config(golden, _decider(server.url)))
        out = tmp_path / "runs"
        ledger = out / "killed" / "batches.jsonl"
        process = _cli(config, "--out", out, "--run-id", "killed")
        deadline = time.monotonic() + 60
        while (time.monotonic() < deadline and process.poll() is None
               and '"submitted"' not in (ledger.read_text() if ledger.exists() else "")):
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert server.stats()["batches"]["created"] == 1
        killed_batch = next(e["batch_id"] for e in read_jsonl(ledger) if e["event"] == "submitted")
        assert not (out / "killed" / "decisions.jsonl").exists() or not read_jsonl(
            out / "killed" / "decisions.jsonl")
        if lose_the_id:  # what a kill after the batch was created, before its id was written, leaves
            ledger.write_text("".join(line + "\n" for line in ledger.read_text().splitlines()
                                      if '"submitted"' not in line))
        resumed = run_eval(config, out_dir=out, run_id="killed", resume=True,
                           live_progress=False)
        batches = server.stats()["batches"]
    assert resumed.exit_code == 0
    assert batches["files"] == batches["created"] == 1  # polled, never submitted again
    assert batches["lines_answered"] == N
    assert batches["listed"] == (1 if lose_the_id else 0)  # found by its metadata
    rows = read_jsonl(out / "killed" / "decisions.jsonl")
    assert len({r["item_id"] for r in rows}) == len(rows) == N
    assert all(r["outcome"] == "ok" for r in rows)
    events = _events(out / "killed")
    assert [e["event"] for e in events].count("submitting") == 1
    assert events[-1]["event"] == "collected" and events[-1]["batch_id"] == killed_batch
    assert RunDir(out / "killed").read_manifest().status == "complete"


def test_a_refused_key_stops_the_run_before_anything_is_submitted(tmp_path, write_config,
                                                                  cli_run, monkeypatch):
    monkeypatch.setenv("BATCH_KEY", "sk-wrong-0123456789abcdef")
    with StubServer(api_key="sk-right") as server:
        config = write_config(_config(_golden(tmp_path), _decider(server.url,
                                                                   api_key_env="BATCH_KEY")))
        result = cli_run("run", config, "--out", tmp_path / "runs", "--run-id", "k")
        assert server.stats()["batches"]["files"] == 0
    assert result.exit_code == 2, result.stderr
    assert "batch API refused the request" in result.stderr and "HTTP 401" in result.stderr
    assert "sk-wrong-0123456789abcdef" not in result.stderr
    assert not (tmp_path / "runs" / "k" / "batches.jsonl").exists()


def test_batch_options_are_checked_when_the_config_is_read(tmp_path, write_config, cli_run):
    golden = _golden(tmp_path, 3)
    url = "http://127.0.0.1:9/v1"
    for decider, needle in (
        ({**_decider(url), "api_base": None, "api_bases": [url]}, "not a fleet"),
        ({"name": "e", "kind": "llm", "model": "embedded", "batch": True}, "batch"),
        ({**_decider(url), "model": "openai/no-such-model"}, "no known batch price"),
        ({**_decider(url), "batch_max_requests": 50_001}, "batch_max_requests"),
    ):
        config = write_config(_config(golden, decider))
        result = cli_run("validate", config)
        assert result.exit_code == 2 and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_other_providers_go_through_litellms_batch_functions(tmp_path, write_config):
    """``client: litellm`` sends the same files and batches through litellm (here its OpenAI
    provider, at the loopback server), and reads the answers the same way."""
    golden = _golden(tmp_path, 9)
    with StubServer(batch_duration_s=0.3) as server:
        config = write_config(_config(golden, _decider(server.url, client="litellm")))
        result = run_eval(config, out_dir=tmp_path / "runs", live_progress=False)
        batches = server.stats()["batches"]
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    assert batches["created"] == 1 and batches["lines_answered"] == 9
    assert [r["label"] for r in sorted(rows, key=lambda r: r["item_id"])] == [
        "hate" if i % 3 == 0 else "none" for i in range(9)]


def test_a_batch_cancelled_at_the_provider_keeps_its_answers_and_errors_the_rest(
        tmp_path, write_config):
    import threading
    import urllib.request

    golden = _golden(tmp_path)
    with StubServer(batch_duration_s=3.0) as server:
        config = write_config(_config(golden, _decider(server.url)))

        def cancel_midway() -> None:  # bounded: gives up after 30 s
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and server.stats()["batches"]["created"] == 0:
                time.sleep(0.02)
            time.sleep(1.5)  # about a third of the lines answered
            ledger = next((tmp_path / "runs").glob("*/batches.jsonl"))
            batch_id = next(e["batch_id"] for e in read_jsonl(ledger) if e["event"] == "submitted")
            urllib.request.urlopen(urllib.request.Request(
                f"{server.url}/batches/{batch_id}/cancel", method="POST"), timeout=10).read()

        canceller = threading.Thread(target=cancel_midway, daemon=True)
        canceller.start()
        result = run_eval(config, out_dir=tmp_path / "runs", live_progress=False)
        canceller.join(timeout=35)
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    ok = [r for r in rows if r["outcome"] == "ok"]
    cancelled = [r for r in rows if r["outcome"] == "error"]
    assert len(rows) == N and 0 < len(ok) < N and len(ok) + len(cancelled) == N
    assert all("batch_cancelled" in r["error"] for r in cancelled)
    assert _events(result.run_dir)[-1]["status"] == "cancelled"


def test_merged_shards_list_every_shards_batches(tmp_path, write_config):
    from evalharness.api import merge_runs

    golden = _golden(tmp_path)
    with StubServer(batch_duration_s=0.3) as server:
        config = write_config(_config(golden, _decider(server.url)))
        shards = [run_eval(config, out_dir=tmp_path / "runs", shard=(k, 2), use_cache=False,
                           live_progress=False).run_dir for k in (1, 2)]
    merged = merge_runs(shards, tmp_path / "runs", run_id="merged")
    ids = [e["batch_id"] for run in shards for e in _events(run) if e["event"] == "submitted"]
    assert len(ids) == 2
    assert [b["batch_id"] for b in merged.manifest.deciders[0]["batches"]] == ids
    assert len(read_jsonl(merged.run_dir / "decisions.jsonl")) == N
