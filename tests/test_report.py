"""report.md and report.html from a real run over a small golden set with hostile item texts.

The fixture set (tests/fixtures/report/items.jsonl) has HTML and script tags, markdown pipes,
backticks, links and line breaks in item texts, a meta value and a site name; two BPO sites
mapped in the config; a production score missing for one item (an ``error`` outcome).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support
from statsmodels.stats.proportion import proportion_confint

from evalharness import write_report
from evalharness.execution.rundir import RunDir

from conftest import HOSTILE


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


def test_report_is_rebuilt_identically_from_the_run_files(report_run, tmp_path, cli_run):
    run = _copy(report_run, tmp_path)
    names = ("metrics.json", "report.md", "report.html")
    original = {n: (run / n).read_bytes() for n in names}
    for n in names:
        (run / n).unlink()
    write_report(run)
    assert {n: (run / n).read_bytes() for n in names} == original
    result = cli_run("report", run)
    assert result.exit_code == 0, result.output
    assert {n: (run / n).read_bytes() for n in names} == original


def _iv(k: int, n: int) -> str:
    low, high = proportion_confint(k, n, method="wilson")
    return f"{k / n:.2f} [{low:.2f}, {high:.2f}]"


def test_report_numbers_are_the_fixture_worked_by_hand_and_by_sklearn(report_run):
    """The production classifier ``prod`` at threshold 0.5 on the fixture's scores: hate items
    x01 (0.3), x03 (0.4) called none, x06 (none, 0.6) called hate, x12 has no score (error);
    right on the other 8 of 12. hate: TP 3 of 4 called (P 3/4), of 5 gold (R 3/5); none: TP 5 of
    7 called, of 7 gold (x06 and the x12 error missed)."""
    decisions = [d for d in RunDir(report_run).read_decisions() if d.decider == "prod"]
    gold = [d.gold for d in decisions]
    pred = [d.label if d.outcome == "ok" else d.outcome for d in decisions]
    assert accuracy_score(gold, pred) == 8 / 12
    (p_hate, p_none), (r_hate, r_none), _, _ = precision_recall_fscore_support(
        gold, pred, labels=["hate", "none"], zero_division=0)
    assert (p_hate, r_hate, p_none, r_none) == (3 / 4, 3 / 5, 5 / 7, 5 / 7)
    kappa = cohen_kappa_score(gold, pred, labels=["hate", "none", "invalid", "refusal", "error"])
    text = (report_run / "report.md").read_text()
    assert (f"| hate\\_speech | prod | precomputed | 12 | {_iv(8, 12)} | 0.79 [0.60, 0.91] | "
            f"−0.25 [−0.57, +0.14] vs raters | {kappa:.2f} | 1 error |") in text
    row = next(line for line in text.splitlines() if line.startswith(f"| prod | {_iv(3, 4)} |"))
    assert _cells(row)[1:7:3] == [f" {_iv(3, 4)} ", f" {_iv(5, 7)} "]  # hate P, none P
    assert _cells(row)[2:7:3] == [f" {_iv(3, 5)} ", f" {_iv(5, 7)} "]  # hate R, none R


def _cells(line: str) -> list[str]:
    """Split a GFM table row on unescaped pipes (a backslash escapes the next character)."""
    body = line.strip()
    assert body.startswith("|") and body.endswith("|") and not body.endswith("\\|"), line
    cells, cell, i = [], "", 1
    while i < len(body) - 1:
        ch = body[i]
        if ch == "\\":
            cell += body[i:i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += ch
        i += 1
    cells.append(cell)
    return cells


def test_markdown_tables_keep_their_shape_and_data_is_inert(report_run):
    text = (report_run / "report.md").read_text()
    tables = 0
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            tables += 1
            width = len(_cells(line))
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert len(_cells(lines[j])) == width, f"line {j + 1}: {lines[j]}"
                j += 1
    assert tables >= 10
    for raw in HOSTILE:
        assert raw not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\\`rm -rf /\\`" in text and "pipes \\| in \\| the text" in text
    # the item with a line break stays on one table row
    assert re.search(r"^\| x04 \| line one line two ", text, re.M)


def test_markdown_summary_fits_a_pr_comment(report_run):
    text = (report_run / "report.md").read_text()
    summary = text.split("\n## hate\\_speech\n", 1)[0]
    assert len(summary.splitlines()) < 60 and len(summary) < 4000
    assert "raters vs QA" in summary and "Human reference" in summary
    assert "1 error" in summary, "non-ok outcomes are visible in the summary"


def test_markdown_sections(report_run):
    text = (report_run / "report.md").read_text()
    for heading in ("### Deciders", "### Ranking and calibration of P(violating)",
                    "### Human agreement (raters)", "### BPO sites (raters)", "### Root causes",
                    "#### Items where the raters split (5 of 12 rated items)",
                    "### SOP request: hate\\_speech"):
        assert heading in text
    assert "| prod | 11 | 1 | 5 | 0.87" in text, "AUC row shows scored and left-out counts"
    assert "| north | 2 | 12 | 0.83 [0.55, 0.95] | best |" in text


def test_html_is_self_contained_and_escaped(report_run):
    html = (report_run / "report.html").read_text()
    for raw in HOSTILE:
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script") == 1, "only the report's own script"
    assert "Content-Security-Policy" in html and "default-src &#39;none&#39;" in html
    # no network: the only URL is the SVG namespace, which is a name, not a fetch
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(link|img|iframe|object|embed)\b[^>]*\b(src|href)=\"(?!data:|#)", html)


def test_report_without_items_file(report_run, tmp_path):
    run = _copy(report_run, tmp_path)
    (run / "items.jsonl").unlink()
    write_report(run)
    assert "(not in the run folder)" in (run / "report.md").read_text()
    assert "text not in the run folder" in (run / "report.html").read_text()
    assert RunDir(run).read_metrics() == RunDir(report_run).read_metrics()


def test_reports_say_which_prevalence_their_numbers_are_at(report_run, tmp_path, cli_run):
    import json

    run = _copy(report_run, tmp_path)
    text = (run / "report.md").read_text()
    assert "no production prevalence is stated, so every number here is at this golden set's" \
        in text
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["prevalence"] = {"hate_speech": 0.02}
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = cli_run("report", run)
    assert result.exit_code == 0, result.output
    text = (run / "report.md").read_text()
    assert "at production prevalence 2.00%" in text and "no production prevalence" not in text
    html = (run / "report.html").read_text()
    assert "at production prevalence 2.00%" in html
    metrics = json.loads((run / "metrics.json").read_text())
    overall = [r for r in metrics["results"] if r["slice"] is None]
    assert all(r["production"]["prevalence"] == 0.02 for r in overall)
    # a bad prevalence in the config is bad input naming the field
    manifest["config"]["prevalence"] = {"hate_speech": 3}
    (run / "manifest.json").write_text(json.dumps(manifest))
    result = cli_run("report", run)
    assert result.exit_code == 2 and "prevalence.hate_speech" in result.stderr
