"""Runs fail closed: a bad key, a missing model or an endpoint that answers nothing stops the run
early with exit 2 (real OpenAI-compatible servers on 127.0.0.1 count the calls); a default error
budget applies; a decider whose decisions are all errors is never "best"; and ``--dry-run``
prices every decider, humans included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalharness import build_metrics
from evalharness.records import Decision, GoldenSetInfo, Manifest, PolicyInfo
from evalharness.report.markdown import render_markdown
from evalharness.execution.rundir import RunDir
from evalharness.testing.stub_server import StubServer

from conftest import MINI, REPO, mini_config

PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5}


def _config(tmp_path: Path, url: str, n: int = 20, prefix: str = "post", **llm) -> dict:
    path = tmp_path / "items.jsonl"
    with open(path, "w") as fh:
        for i in range(n):
            text = f"{prefix} {i} {'hate' if i % 2 else 'calm'}"
            fh.write(json.dumps({"id": f"x{i:02d}", "text": text,
                                 "labels": {"hate_speech": "hate" if i % 2 else "none"}}) + "\n")
    decider = {"name": "hosted", "kind": "llm", "model": "openai/stub", "api_base": url,
               "price": PRICE, "structured_output": "json_schema", "concurrency": 8,
               "timeout_s": 5, "max_attempts": 3, **llm}
    return {"name": "closed", "golden_set": {"path": str(path)}, "policies": ["hate_speech"],
            "policies_dir": str(REPO / "policies"), "deciders": [decider],
            "cache": {"enabled": False}}


def test_a_bad_key_stops_the_run_after_one_call(write_config, tmp_path, monkeypatch, cli_run):
    wrong = "sk-wrong-key-5f1e9a7c3b"
    monkeypatch.setenv("HOSTED_KEY", wrong)
    run = RunDir(tmp_path / "runs" / "r")
    with StubServer(api_key="sk-the-right-key-000") as server:
        path = write_config(_config(tmp_path, server.url, api_key_env="HOSTED_KEY"))
        result = cli_run("run", path, "--out", tmp_path / "runs", "--run-id", "r")
        calls = server.stats()["completions"]
        assert server.stats()["by_status"] == {"401": calls}
        assert result.exit_code == 2, result.output
        err = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and "Traceback" not in result.output
        assert "decider hosted" in err[0] and "401" in err[0] and "Incorrect API key" in err[0]
        assert wrong not in result.output  # the provider quotes the key; the message never does
        assert calls == 1, f"{calls} calls were made with a key the provider refused"
        assert run.read_manifest().status == "failed"
        for file in (tmp_path / "runs").rglob("*"):
            if file.is_file():
                assert wrong.encode() not in file.read_bytes(), file
        # with the right key, --resume finishes the run (the refused call is asked again)
        monkeypatch.setenv("HOSTED_KEY", "sk-the-right-key-000")
        result = cli_run("run", path, "--out", tmp_path / "runs", "--run-id", "r", "--resume")
        assert result.exit_code == 0, result.output
        assert server.stats()["completions"] == 1 + 20
    decisions = run.read_decisions()
    assert len(decisions) == 20 and all(d.outcome == "ok" for d in decisions)


def test_a_model_the_provider_does_not_have_stops_the_run(write_config, tmp_path, cli_run):
    with StubServer(model="stub", require_model=True) as server:
        config = _config(tmp_path, server.url)
        config["deciders"][0]["model"] = "openai/no-such-model"
        result = cli_run("run", write_config(config), "--out", tmp_path / "runs")
        assert server.stats()["completions"] == 1
    assert result.exit_code == 2, result.output
    assert "decider hosted" in result.stderr and "does not exist" in result.stderr


def test_an_endpoint_whose_first_calls_all_fail_stops_the_run(write_config, tmp_path, cli_run):
    # every call answers 500 (retryable): the first 5 decisions are all errors, so the run stops
    # instead of retrying 200 items
    with StubServer(faults={"BROKEN": "500:always"}) as server:
        config = _config(tmp_path, server.url, n=200, prefix="BROKEN", max_attempts=2,
                         concurrency=4)
        result = cli_run("run", write_config(config), "--out", tmp_path / "runs", "--run-id", "r")
        calls = server.stats()["completions"]
    assert result.exit_code == 2, result.output
    assert "first 5 calls all failed" in result.stderr and "HTTP 500" in result.stderr
    assert calls <= 2 * (5 + 4), f"{calls} calls to an endpoint that never answered"
    decisions = RunDir(tmp_path / "runs" / "r").read_decisions()
    assert 5 <= len(decisions) <= 5 + 4 and all(d.outcome == "error" for d in decisions)


def test_default_error_budget_is_two_percent(write_config, tmp_path, cli_run):
    # one call of 20 always fails: 5% errors, over the default 2% budget -> exit 3, files written
    with StubServer(faults={"FAULTALWAYS500": "500:always"}) as server:
        config = _config(tmp_path, server.url, max_attempts=1)
        items = Path(config["golden_set"]["path"])
        rows = [json.loads(line) for line in items.read_text().splitlines()]
        rows[7]["text"] = "FAULTALWAYS500 " + rows[7]["text"]
        items.write_text("".join(json.dumps(r) + "\n" for r in rows))
        result = cli_run("run", write_config(config), "--out", tmp_path / "runs", "--run-id", "r")
        config["max_error_rate"] = None
        off = cli_run("run", write_config(config, "off.yaml"), "--out", tmp_path / "runs")
    assert result.exit_code == 3, result.output
    assert "1 of 20 decisions are errors (5.0% > max_error_rate 2.0%)" in result.stderr
    assert (tmp_path / "runs" / "r" / "report.md").exists()
    assert off.exit_code == 0, off.output


def _rows(decider: str, outcomes: list[tuple[str, str | None, str]]) -> list[Decision]:
    return [Decision(item_id=f"i{i}", policy="hate_speech", decider=decider,
                     decider_kind="llm", label=label, outcome=outcome, gold=gold,
                     error="HTTP 500" if outcome == "error" else None)
            for i, (gold, label, outcome) in enumerate(outcomes)]


def test_an_all_error_decider_is_never_best():
    golds = ["hate", "none"] * 10
    broken = _rows("broken", [(g, None, "error") for g in golds])
    wrong = _rows("wrong", [(g, "none" if g == "hate" else "hate", "ok") for g in golds])
    metrics = build_metrics("r", broken + wrong, {"hate_speech": ["hate", "none"]},
                            violating={"hate_speech": ["hate"]})
    rows = {r.decider: r for r in metrics.results}
    assert rows["broken"].accuracy.value == rows["wrong"].accuracy.value == 0.0
    assert rows["broken"].best is None and rows["wrong"].best == "point_estimate"
    manifest = Manifest(
        run_id="r", status="complete", started_at="2026-12-01T00:00:00", config_path="c.yaml",
        config={"name": "c"}, config_hash="h",
        policies={"hate_speech": PolicyInfo(version="1", owner="o", prompt_hash="x" * 12,
                                            labels=["hate", "none"], violating=["hate"])},
        golden_set=GoldenSetInfo(path="g.jsonl", file_sha256=None, selection_sha256="s",
                                 n_items=20),
        deciders=[{"name": "broken", "kind": "llm"}, {"name": "wrong", "kind": "llm"}])
    text = render_markdown(metrics, manifest)
    summary = text.split("## hate_speech")[0]
    broken_line = next(line for line in summary.splitlines() if " | broken | " in line)
    assert "all errors" in broken_line and "highest" not in broken_line and "best" not in broken_line
    assert "broken: all errors" in summary


@pytest.mark.parametrize("seconds", [30])
def test_dry_run_prices_every_decider_humans_included(write_config, tmp_path, cli_run, seconds):
    config = mini_config(deciders=[*mini_config()["deciders"],
                                   {"name": "prod", "kind": "precomputed", "scores": "prod",
                                    "cost_per_decision_usd": 0.002}])
    items = [json.loads(line) for line in (MINI / "items.jsonl").read_text().splitlines()]
    for item in items:
        item["scores"] = {"prod": {"hate_speech": 0.5}}
    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps(i) + "\n" for i in items))
    config["golden_set"] = {"path": str(golden)}
    result = cli_run("run", write_config(config), "--dry-run", "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    rated = sum(1 for i in items if any("hate_speech" in a["labels"] for a in i["annotations"]))
    human = next(line for line in result.stdout.splitlines() if line.startswith("| raters "))
    expected = rated * seconds * 14.0 / 3600
    assert f"${expected:.4f}" in human and "hourly rate x handling time" in human
    prod = next(line for line in result.stdout.splitlines() if line.startswith("| prod "))
    assert f"${0.002 * len(items):.4f}" in prod and "price per decision" in prod
    assert not (tmp_path / "runs").exists()
