"""The runner against a real OpenAI-compatible server on 127.0.0.1 that injects faults.

Every item ends ``ok`` or ``error`` (or ``invalid``/``refusal`` for what the model says), none is
missing and none duplicated; errors are never cached; a killed run resumes without asking again for
what had finished. (Keys reaching no file: tests/test_secrets.py; every fault kind and 1,000
items at a 20% fault rate: tests/test_fault_matrix.py.)
"""

from __future__ import annotations

import json
import shutil
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.execution.rundir import RunDir
from evalharness.testing.stub_server import StubServer

from conftest import REPO, read_jsonl

PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5, "cached_input_per_mtok": 0.25}


def _golden(path: Path, texts: list[str]) -> Path:
    with open(path, "w") as fh:
        for i, text in enumerate(texts):
            gold = "hate" if any(w in text for w in ("hate", "kill", "stupid")) else "none"
            fh.write(json.dumps({"id": f"x{i:02d}", "text": text, "labels": {"hate_speech": gold},
                                 "meta": {"source": "test"}}) + "\n")
    return path


def _config(tmp_path: Path, url: str, texts: list[str], **llm) -> dict:
    decider = {"name": "stub-llm", "kind": "llm", "model": "openai/stub", "api_base": url,
               "price": PRICE, "structured_output": "json_schema", "concurrency": 4,
               "timeout_s": 2, "max_attempts": 3, **llm}
    return {
        "name": "faults",
        "golden_set": {"path": str(_golden(tmp_path / "items.jsonl", texts))},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [decider],
    }


FAULT_TEXTS = [
    "i hate you all", "lovely weather", "kill them", "nice shoes",
    "FAULT429 first one", "FAULT429 second one",
    "FAULT500 server hiccup", "FAULTHANG slow answer", "FAULTJSON broken body",
    "FAULTALWAYS500 never works", "REFUSEME please", "RAMBLE on",
]


@pytest.fixture
def stub():
    with StubServer(fault_times=1, hang_s=20, retry_after_s=1) as server:
        yield server


def test_faults_end_as_outcomes_none_missing_none_duplicated(stub, write_config, tmp_path, cli_run):
    path = write_config(_config(tmp_path, stub.url, FAULT_TEXTS))
    result = run_eval(path, out_dir=tmp_path / "results", run_id="r1", live_progress=False)
    decisions = {d.item_id: d for d in RunDir(result.run_dir).read_decisions()}
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    assert len(rows) == len(FAULT_TEXTS) == len(decisions), "each item exactly once"
    by_text = {FAULT_TEXTS[int(k[1:])]: d for k, d in decisions.items()}

    for text in ("i hate you all", "kill them"):
        assert (by_text[text].outcome, by_text[text].label) == ("ok", "hate")
    for text in ("lovely weather", "nice shoes"):
        assert (by_text[text].outcome, by_text[text].label) == ("ok", "none")
    for text in ("FAULT429 first one", "FAULT429 second one", "FAULT500 server hiccup",
                 "FAULTHANG slow answer", "FAULTJSON broken body"):
        assert by_text[text].outcome == "ok" and by_text[text].attempts == 2, text
    never = by_text["FAULTALWAYS500 never works"]
    assert never.outcome == "error" and never.attempts == 3 and "500" in never.error
    assert never.label is None
    assert by_text["REFUSEME please"].outcome == "refusal"
    rambling = by_text["RAMBLE on"]
    assert rambling.outcome == "invalid" and rambling.raw and rambling.label is None

    for d in decisions.values():
        if d.outcome != "error":
            assert d.usage.prompt_tokens > 0
            assert d.cost_usd == pytest.approx(
                ((d.usage.prompt_tokens - d.usage.cached_tokens) * 0.5
                 + d.usage.cached_tokens * 0.25 + d.usage.completion_tokens * 1.5) / 1e6)

    # Retry-After was honoured: the retry of a 429 came at least 1 s after the 429
    log = [r for r in stub.requests if "FAULT429 first one" in (r.get("item") or "")]
    assert len(log) == 2 and log[1]["t"] - log[0]["t"] >= 0.95
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["endpoints"][stub.url]["rate_limited"] >= 2

    # rerun: every answer comes from the cache except the error, which is asked again
    before = Counter(r.get("item") for r in stub.requests)
    again = run_eval(path, out_dir=tmp_path / "results", run_id="r2", live_progress=False)
    after = Counter(r.get("item") for r in stub.requests)
    asked = {text for text in after if after[text] > before[text]}
    assert len(asked) == 1 and "FAULTALWAYS500" in asked.pop()
    second = {d.item_id: d for d in RunDir(again.run_dir).read_decisions()}
    assert sum(d.cached for d in second.values()) == len(FAULT_TEXTS) - 1

    # the error budget: one error in 12 decisions is over 5%, so exit 3 with every file written
    config = _config(tmp_path, stub.url, FAULT_TEXTS)
    config["max_error_rate"] = 0.05
    result = cli_run("run", write_config(config, "budget.yaml"), "--out", tmp_path / "results",
                     "--run-id", "r3")
    assert result.exit_code == 3, result.output
    assert "error budget exceeded: decider stub-llm: 1 of 12" in result.stderr
    for name in ("manifest.json", "decisions.jsonl", "metrics.json", "report.md"):
        assert (tmp_path / "results" / "r3" / name).exists()


def test_adaptive_rate_limit_finishes_every_item(write_config, tmp_path):
    texts = [f"item number {i} {'hate' if i % 3 == 0 else 'fine'}" for i in range(24)]
    with StubServer(rate_limit_rps=8, rate_limit_burst=2) as server:
        path = write_config(_config(tmp_path, server.url, texts, concurrency=8, max_attempts=8))
        result = run_eval(path, out_dir=tmp_path / "results", live_progress=False)
        decisions = RunDir(result.run_dir).read_decisions()
        assert len(decisions) == 24 and all(d.outcome == "ok" for d in decisions)
        endpoint = result.manifest.endpoints[server.url]
        assert endpoint["rate_limited"] > 0 and endpoint["lowest_concurrency"] < 8
        assert server.stats()["by_status"].get("429", 0) > 0


def test_sigkill_then_resume_finishes_without_asking_again(write_config, tmp_path):
    texts = [f"message {i} {'kill' if i % 4 == 0 else 'hello'}" for i in range(24)]
    with StubServer(latency_s=0.25) as server:
        config = _config(tmp_path, server.url, texts, concurrency=2)
        path = write_config(config)
        out = tmp_path / "results"
        decisions_file = out / "killed" / "decisions.jsonl"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "evalharness", "run", str(path), "--out", str(out),
             "--run-id", "killed", "--no-cache"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if decisions_file.exists() and decisions_file.read_text().count("\n") >= 6:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        finished = {row["item_id"] for row in read_jsonl(decisions_file)}
        assert 6 <= len(finished) < 24, "killed part-way"
        killed_at = time.time()
        time.sleep(0.3)  # let requests in flight at the kill land in the log first

        resumed = run_eval(path, out_dir=out, run_id="killed", resume=True, use_cache=False,
                           live_progress=False)
        after_kill = [r for r in server.requests if r["t"] > killed_at + 0.3]
        asked_again = {r["item"] for r in after_kill}
        finished_texts = {texts[int(i[1:])] for i in finished}
        assert not asked_again & finished_texts, "a finished item was requested again"

        rows = read_jsonl(resumed.run_dir / "decisions.jsonl")
        keys = [(r["item_id"], r["policy"], r["decider"]) for r in rows]
        assert len(keys) == len(set(keys)) == 24
        assert resumed.manifest.status == "complete"

        whole = run_eval(path, out_dir=out, run_id="whole", use_cache=False, live_progress=False)
        labels = lambda run: {d.item_id: (d.outcome, d.label) for d in RunDir(run).read_decisions()}
        assert labels(resumed.run_dir) == labels(whole.run_dir)


def test_missing_price_stops_before_any_call(write_config, tmp_path, cli_run):
    with StubServer() as server:
        config = _config(tmp_path, server.url, ["a", "b"])
        del config["deciders"][0]["price"]
        config["deciders"][0]["model"] = "openai/no-such-model-anywhere"
        result = cli_run("run", write_config(config), "--out", tmp_path / "results")
        assert result.exit_code == 2
        assert "no known price for model 'openai/no-such-model-anywhere'" in result.stderr
        assert "price:" in result.stderr
        assert server.stats()["completions"] == 0


def test_dry_run_estimates_and_calls_nothing(write_config, tmp_path, cli_run):
    with StubServer() as server:
        path = write_config(_config(tmp_path, server.url, ["a hateful thing", "b", "c"]))
        result = cli_run("run", path, "--dry-run", "--out", tmp_path / "results")
        assert result.exit_code == 0, result.output
        assert "| stub-llm | openai/stub | 3 | 3 | 0 |" in result.stdout
        assert "dry run: 3 model calls" in result.stdout
        assert server.stats()["completions"] == 0
        assert not (tmp_path / "results").exists()


def test_ctrl_c_stops_cleanly_and_resume_finishes(write_config, tmp_path):
    texts = [f"note {i} {'stupid' if i % 2 else 'calm'}" for i in range(30)]
    with StubServer(latency_s=0.25) as server:
        path = write_config(_config(tmp_path, server.url, texts, concurrency=2))
        out = tmp_path / "results"
        decisions_file = out / "r" / "decisions.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "evalharness", "run", str(path), "--out", str(out), "--run-id", "r"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if decisions_file.exists() and decisions_file.read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr and "--resume" in stderr
        manifest = json.loads((out / "r" / "manifest.json").read_text())
        assert manifest["status"] == "interrupted"
        saved = read_jsonl(decisions_file)
        assert 4 <= len(saved) < 30
        resumed = run_eval(path, out_dir=out, run_id="r", resume=True, live_progress=False)
        rows = read_jsonl(resumed.run_dir / "decisions.jsonl")
        assert rows[: len(saved)] == saved
        assert sorted(r["item_id"] for r in rows) == [f"x{i:02d}" for i in range(30)]


def test_models_policies_and_prompt_variants_form_a_matrix(write_config, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    for pid in ("hate_speech", "offensive"):
        text = (REPO / "policies" / f"{pid}.yaml").read_text()
        text += ("variants:\n  terse:\n    system: |\n      Moderate the item for this policy.\n"
                 "    user: |\n      <item>\n      {text}\n      </item>\n")
        (policies / f"{pid}.yaml").write_text(text)
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"i{i}", "text": t, "labels": {
        "hate_speech": "hate" if "hate" in t else "none",
        "offensive": "offensive" if ("hate" in t or "stupid" in t) else "none"}}) + "\n"
        for i, t in enumerate(["i hate them", "you are stupid", "good morning"])))
    with StubServer() as a, StubServer(json_schema_supported=False) as b:
        config = {
            "name": "matrix",
            "golden_set": {"path": str(items)},
            "policies": ["hate_speech", "offensive"],
            "policies_dir": str(policies),
            "deciders": [
                {"name": "model-a", "kind": "llm", "model": "openai/stub-a", "api_base": a.url,
                 "price": PRICE, "prompt_variants": ["default", "terse"]},
                {"name": "model-b", "kind": "llm", "model": "openai/stub-b", "api_base": b.url,
                 "price": PRICE, "structured_output": "json_object"},
                {"name": "model-b-schema", "kind": "llm", "model": "openai/stub-b", "api_base": b.url,
                 "price": PRICE, "structured_output": "json_schema", "policies": ["offensive"]},
            ],
        }
        result = run_eval(write_config(config), out_dir=tmp_path / "results", live_progress=False)
    decisions = RunDir(result.run_dir).read_decisions()
    cells = Counter((d.decider, d.policy) for d in decisions)
    assert cells == {(m, p): 3 for m in ("model-a@default", "model-a@terse", "model-b")
                     for p in ("hate_speech", "offensive")} | {("model-b-schema", "offensive"): 3}
    terse = [d for d in decisions if d.decider == "model-a@terse"]
    assert all(d.outcome == "ok" for d in terse)
    # an endpoint without json_schema support answers 400: an error outcome, not retried
    unsupported = [d for d in decisions if d.decider == "model-b-schema"]
    assert all(d.outcome == "error" and d.attempts == 1 and "400" in d.error for d in unsupported)
    infos = result.manifest.policies
    assert set(infos["hate_speech"].variant_hashes) == {"terse"}
    assert infos["hate_speech"].variant_hashes["terse"] != infos["hate_speech"].prompt_hash
    rows = {(r.decider, r.policy) for r in result.metrics.results if r.slice is None}
    assert ("model-a@terse", "offensive") in rows


def test_candidate_that_changed_one_policy_re_asks_only_that_policy(write_config, tmp_path, cli_run):
    items = tmp_path / "items.jsonl"
    texts = ["i hate them", "you are stupid", "good morning", "kill the lights", "see you"]
    items.write_text("".join(json.dumps({"id": f"i{i}", "text": t, "labels": {
        "hate_speech": "hate" if "hate" in t else "none",
        "offensive": "offensive" if ("hate" in t or "stupid" in t) else "none"}}) + "\n"
        for i, t in enumerate(texts)))
    edited = tmp_path / "edited-policies"
    shutil.copytree(REPO / "policies", edited)
    path = edited / "offensive.yaml"
    path.write_text(path.read_text().replace('version: "1.0.0"', 'version: "1.1.0"')
                    .replace("civil content, including", "civil content (even when heated), including"))

    def config(policies_dir: Path) -> dict:
        return {"name": "gate", "golden_set": {"path": str(items)},
                "policies": ["hate_speech", "offensive"], "policies_dir": str(policies_dir),
                "deciders": [{"name": "llm", "kind": "llm", "model": "openai/stub", "price": PRICE}]}

    with StubServer() as server:
        for run_id, policies in (("base", REPO / "policies"), ("candidate", edited)):
            cfg = config(policies)
            cfg["deciders"][0]["api_base"] = server.url
            assert cli_run("run", write_config(cfg, f"{run_id}.yaml"), "--out", tmp_path / "runs",
                           "--run-id", run_id).exit_code == 0
            if run_id == "base":
                asked_for_base = server.stats()["completions"]
        assert asked_for_base == 10
        assert server.stats()["completions"] == 15, "only the edited policy is asked again"
    candidate = RunDir(tmp_path / "runs" / "candidate").read_decisions()
    assert {d.policy for d in candidate if d.cached} == {"hate_speech"}
    assert all(not d.cached for d in candidate if d.policy == "offensive")
    result = cli_run("compare", tmp_path / "runs" / "base", tmp_path / "runs" / "candidate")
    assert result.exit_code == 0, result.output
    assert "prompt **changed**" in result.stdout and "5/5 candidate model decisions from the response cache" in result.stdout
