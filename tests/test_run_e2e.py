"""End to end with the real embedded model: metrics.json must be recomputable from decisions.jsonl."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from evalharness import run_eval
from evalharness.execution.rundir import RunDir

from conftest import mini_config, read_jsonl

OUTCOMES = ["invalid", "refusal", "error"]


def _recompute(rows: list[dict], labels: list[str]) -> dict:
    """Metrics of one group of decision rows, computed here with sklearn and numpy only."""
    graded = [r for r in rows if r["gold"] is not None]
    if not graded:
        return {"n": 0}
    y_true = [r["gold"] for r in graded]
    y_pred = [r["label"] if r["outcome"] == "ok" else r["outcome"] for r in graded]
    columns = labels + OUTCOMES
    cm = confusion_matrix(y_true, y_pred, labels=columns)[: len(labels)]
    p, r, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = sorted(set(y_true) | set(y_pred), key=columns.index)
    cost = sum(row["cost_usd"] for row in rows)
    correct = sum(t == q for t, q in zip(y_true, y_pred))
    latencies = [row["latency_s"] for row in rows if row["latency_s"] is not None]
    return {
        "n": len(graded),
        "confusion": cm.tolist(),
        "accuracy": correct / len(graded),
        "precision": dict(zip(labels, p)),
        "recall": dict(zip(labels, r)),
        "kappa": cohen_kappa_score(y_true, y_pred, labels=present) if len(present) > 1 else None,
        "coverage": sum(row["outcome"] == "ok" for row in graded) / len(graded),
        "cost_total": cost,
        "cost_per_decision": cost / len(rows),
        "latency_p50": float(np.percentile(latencies, 50)) if latencies else None,
    }


def _check_row(row: dict, expected: dict) -> None:
    assert row["n"] == expected["n"]
    if expected["n"] == 0:
        assert row["accuracy"]["value"] is None and row["coverage"]["value"] is None
        return
    assert row["confusion"] == expected["confusion"]
    assert row["accuracy"]["value"] == pytest.approx(expected["accuracy"], abs=1e-12)
    cm = np.array(expected["confusion"])
    for j, label in enumerate(row["labels"]):
        # undefined rates (nothing predicted / no gold of that label) are null, sklearn says 0
        for part, denominator in (("precision", cm[:, j].sum()), ("recall", cm[j].sum())):
            got = row[part][label]["value"]
            if denominator == 0:
                assert got is None
            else:
                assert got == pytest.approx(expected[part][label], abs=1e-12)
    if expected["kappa"] is not None and not np.isnan(expected["kappa"]):
        assert row["cohen_kappa"] == pytest.approx(expected["kappa"], abs=1e-12)
    assert row["coverage"]["value"] == pytest.approx(expected["coverage"], abs=1e-12)
    assert row["cost_total_usd"] == pytest.approx(expected["cost_total"], abs=1e-12)
    assert row["cost_per_decision_usd"] == pytest.approx(expected["cost_per_decision"], abs=1e-12)
    if expected["latency_p50"] is not None:
        assert row["latency_p50_s"] == pytest.approx(expected["latency_p50"], rel=1e-9)


@pytest.mark.slow
def test_run_with_embedded_model_is_recomputable(write_config, tmp_path, cli_run):
    config = mini_config()
    config["deciders"].insert(0, {"name": "smollm2", "kind": "llm", "model": "embedded"})
    path = write_config(config)
    result = cli_run("run", path, "--out", tmp_path / "results", "--limit", "10")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "results" / result.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert result.stdout.strip().splitlines()[-1] == str(run_dir)

    decisions = read_jsonl(run_dir / "decisions.jsonl")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["golden_set"]["n_items"] == 10
    assert manifest["policies"]["hate_speech"]["prompt_hash"]

    keys = [(d["item_id"], d["policy"], d["decider"]) for d in decisions]
    assert len(keys) == len(set(keys)), "each item x policy x decider exactly once"
    llm = [d for d in decisions if d["decider"] == "smollm2"]
    assert len(llm) == 10 and all(d["outcome"] == "ok" for d in llm)
    for d in llm:
        assert d["label"] in ("hate", "none")
        assert 0.5 <= d["confidence"] <= 1.0
        assert sum(d["scores"].values()) == pytest.approx(1.0)
        assert d["usage"]["prompt_tokens"] > 0
    assert any(d["usage"]["cached_tokens"] > 0 for d in llm), "policy prefix is reused"

    labels = ["hate", "none"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for d in decisions:
        if d["decider_kind"] == "human_rater":
            continue
        groups[(d["decider"], None)].append(d)
        for value in d["meta"].get("target") or ["(missing)"]:
            groups[(d["decider"], value)].append(d)
    rows = {(r["decider"], r["slice"]["value"] if r["slice"] else None): r for r in metrics["results"]}
    assert set(rows) == set(groups)
    for key, group in groups.items():
        _check_row(rows[key], _recompute(group, labels))

    raters = [d for d in decisions if d["decider_kind"] == "human_rater" and d["gold"] is not None]
    pooled = sum(d["label"] == d["gold"] for d in raters) / len(raters)
    assert metrics["human_agreement"][0]["rater_accuracy"]["value"] == pytest.approx(pooled)

    report = (run_dir / "report.md").read_text()
    assert "smollm2" in report and "Human reference" in report

    # the report is rebuilt from the run's files alone, identically
    before = (run_dir / "metrics.json").read_text()
    assert cli_run("report", run_dir).exit_code == 0
    assert (run_dir / "metrics.json").read_text() == before
    assert (run_dir / "report.md").read_text() == report


def test_resume_finishes_only_what_is_missing(write_config, tmp_path):
    path = write_config(mini_config())
    out = tmp_path / "results"
    first = run_eval(path, out_dir=out, run_id="r1", live_progress=False)
    decisions_file = first.run_dir / "decisions.jsonl"
    full = decisions_file.read_text().splitlines()
    # simulate a kill: keep 7 complete rows and a torn eighth
    decisions_file.write_text("\n".join(full[:7]) + "\n" + full[7][:25])
    again = run_eval(path, out_dir=out, run_id="r1", resume=True, live_progress=False)
    rows = RunDir(again.run_dir).read_decisions()
    assert len(rows) == len(full)
    assert sorted(r.model_dump_json() for r in rows if r.decider != "tfidf") == sorted(
        json.dumps(json.loads(line), separators=(",", ":")) for line in full
        if json.loads(line)["decider"] != "tfidf"
    )
    assert decisions_file.read_text().splitlines()[:7] == full[:7], "finished rows are kept as they were"


@pytest.mark.slow
def test_long_non_latin_items_are_cut_to_fit_not_errors(write_config, tmp_path):
    items = tmp_path / "long.jsonl"
    texts = {"cjk": "漢字" * 900, "emoji": "😀" * 1400, "english": "word " * 3000}
    items.write_text("".join(json.dumps({"id": k, "text": t, "labels": {"hate_speech": "none"}}) + "\n"
                             for k, t in texts.items()))
    config = mini_config(deciders=[{"name": "smollm2", "kind": "llm", "n_ctx": 1024}], slice_by=[])
    config["golden_set"]["path"] = str(items)
    result = run_eval(write_config(config), out_dir=tmp_path / "results", use_cache=False,
                      live_progress=False)
    decisions = RunDir(result.run_dir).read_decisions()
    assert {d.item_id: (d.outcome, d.truncated) for d in decisions} == {
        k: ("ok", True) for k in texts}
    assert all(d.usage.prompt_tokens <= 1024 for d in decisions)


SHOW_LOAD = """
import sys
from evalharness.execution.workplan import build_work_plan
plan = build_work_plan(sys.argv[1])
llm = next(d for d in plan.deciders if d.kind == "llm")
llm.setup(plan.decider_policies(llm), plan.items)
print("use_extra_bufts", llm._llm.model_params.use_extra_bufts)
"""


@pytest.mark.slow
def test_the_embedded_model_loads_without_llama_cpps_amx_buffer_types(write_config, tmp_path):
    """A natively built llama.cpp segfaults in its AMX path on VMs that advertise AMX; the
    embedded decider loads with those buffer types off, whatever build pip installed."""
    import subprocess
    import sys

    config = mini_config(deciders=[{"name": "smollm2", "kind": "llm", "model": "embedded"}])
    result = subprocess.run([sys.executable, "-c", SHOW_LOAD, str(write_config(config))],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "use_extra_bufts False"
