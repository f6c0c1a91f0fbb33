"""``evalharness export``: a run's decisions, metrics and routing plan as flat tables (Parquet,
CSV, one xlsx workbook), read back here with pandas and openpyxl and compared with the run's own
files; spreadsheet cells are values, never formulas."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from openpyxl import load_workbook

from evalharness import recommend_tiers, run_eval

from conftest import REPO, read_jsonl


@pytest.fixture(scope="module")
def routed(report_run, tmp_path_factory):
    """A copy of the shared report run, routed (the shared folder stays as it is)."""
    run = tmp_path_factory.mktemp("export") / "r1"
    shutil.copytree(report_run, run)
    recommend_tiers(run, precision_target=0.6, recall_target=0.5)
    return run


def _first_keys(run):
    seen, rows = set(), []
    for row in read_jsonl(run / "decisions.jsonl"):
        key = (row["item_id"], row["policy"], row["decider"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_columnar_exports_hold_every_decision_metric_row_and_plan_tier(routed, cli_run, tmp_path,
                                                                      fmt):
    result = cli_run("export", routed, "--format", fmt, "--out", tmp_path / fmt)
    assert result.exit_code == 0, result.stderr
    written = {p.split("/")[-1] for p in result.stdout.split()}
    assert written == {f"{t}.{fmt}" for t in ("decisions", "metrics", "routing_tiers",
                                              "routing_claims")}
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    decisions = read(tmp_path / fmt / f"decisions.{fmt}")
    expected = _first_keys(routed)
    assert len(decisions) == len(expected)
    assert list(decisions["item_id"].astype(str)) == [r["item_id"] for r in expected]
    assert "meta.market" in decisions.columns and "usage.prompt_tokens" in decisions.columns
    assert any(c.startswith("score.") for c in decisions.columns)
    assert decisions["cost_usd"].sum() == pytest.approx(sum(r["cost_usd"] for r in expected))
    metrics = read(tmp_path / fmt / f"metrics.{fmt}")
    rows = json.loads((routed / "metrics.json").read_text())["results"]
    assert len(metrics) == len(rows)
    assert list(metrics["accuracy.value"].round(12)) == [round(r["accuracy"]["value"], 12)
                                                         for r in rows]
    tiers = read(tmp_path / fmt / f"routing_tiers.{fmt}")
    plan = [t["decider"] for t in __import__("yaml").safe_load(
        (routed / "routing.yaml").read_text())["policies"][0]["plan"]["tiers"]]
    assert list(tiers["decider"]) == plan


def test_the_workbook_has_a_sheet_per_table_and_text_never_becomes_a_formula(tmp_path,
                                                                             write_config,
                                                                             cli_run):
    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps({
        "id": f"i{i}", "text": "t", "labels": {"hate_speech": "hate" if i % 2 else "none"},
        "meta": {"note": '=HYPERLINK("http://127.0.0.1:9/x","click")' if i == 0 else i},
        "scores": {"clf": {"hate_speech": 0.9 if i % 2 else 0.1}}}) + "\n" for i in range(6)))
    config = {"name": "xl", "golden_set": {"path": str(golden)}, "policies": ["hate_speech"],
              "policies_dir": str(REPO / "policies"),
              "deciders": [{"name": "clf", "kind": "precomputed", "scores": "clf"}]}
    run = run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)
    result = cli_run("export", run.run_dir, "--format", "xlsx")
    assert result.exit_code == 0, result.stderr
    book = load_workbook(result.stdout.strip())
    assert book.sheetnames == ["decisions", "metrics"]  # no routing.yaml yet
    sheet = book["decisions"]
    header = [c.value for c in sheet[1]]
    note = header.index("meta.note")
    cells = [row[note] for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == 6
    assert cells[0].value.startswith("=HYPERLINK") and cells[0].data_type == "s"
    assert [c.value for c in cells[1:]] == ["1", "2", "3", "4", "5"]  # a mixed column is text


def test_export_refuses_a_folder_that_is_no_run(tmp_path, cli_run):
    result = cli_run("export", tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "decisions.jsonl" in result.stderr
