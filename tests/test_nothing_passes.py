"""Nothing passes on nothing (issue 13, item 4): a comparison, gate check, routing target or
history over zero items is an error — exit 2 with one line saying what is empty, where, and what
would fix it — never exit 0 and never a passing gate. Each case sits beside its non-empty twin,
which still works, so every test can fail.

Runs are real runs of the mini config (classic + human deciders); the cases that no config can
produce directly (a decider that decided disjoint halves in two runs, gold missing from a run's
decisions) are made by editing ``decisions.jsonl``, as ``tests/test_compare.py`` does.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from evalharness.cli.main import cli

from conftest import MINI, mini_config, read_jsonl

ITEMS = read_jsonl(MINI / "items.jsonl")
FIRST, LAST = {i["id"] for i in ITEMS[:6]}, {i["id"] for i in ITEMS[6:]}


def _edit(src: Path, dst: Path, keep: Callable[[dict[str, Any]], bool],
          change: Callable[[dict[str, Any]], None] = lambda row: None) -> Path:
    shutil.copytree(src, dst)
    rows = [r for r in read_jsonl(dst / "decisions.jsonl") if keep(r)]
    for row in rows:
        change(row)
    (dst / "decisions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dst


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``full`` (12 items), ``first``/``last`` (disjoint halves of the golden set), ``sliced``
    (a config whose routing: block targets a slice value no item has), and edited copies of
    ``full``: ``half_a``/``half_b`` (tfidf decided disjoint halves, raters everything),
    ``no_gold`` (no gold at all), ``no_hate`` (no item with gold hate), ``no_none`` (none),
    ``relabelled`` (every gold label swapped)."""
    root = tmp_path_factory.mktemp("nothing")
    configs: dict[str, dict[str, Any]] = {"full": mini_config()}
    for name, ids in (("first", FIRST), ("last", LAST)):
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps(i) + "\n" for i in ITEMS if i["id"] in ids))
        configs[name] = mini_config(golden_set={"path": str(path)})
    configs["sliced"] = mini_config(routing={"slices": [
        {"key": "target", "value": "martians", "precision_target": 0.8}]})
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALHARNESS_HOME", str(root / "home"))
        for name, config in configs.items():
            cfg = root / f"{name}.yaml"
            cfg.write_text(yaml.safe_dump(config, sort_keys=False))
            res = runner.invoke(cli, ["run", str(cfg), "--out", str(root / "runs"), "--run-id",
                                      name], catch_exceptions=False)
            assert res.exit_code == 0, res.output
    full = root / "runs" / "full"
    out = {name: root / "runs" / name for name in configs}
    out["half_a"] = _edit(full, root / "half_a", lambda r: r["decider"] != "tfidf" or r["item_id"] in FIRST)
    out["half_b"] = _edit(full, root / "half_b", lambda r: r["decider"] != "tfidf" or r["item_id"] in LAST)
    out["no_gold"] = _edit(full, root / "no_gold", lambda r: True, lambda r: r.update(gold=None))
    out["no_hate"] = _edit(full, root / "no_hate", lambda r: r["gold"] != "hate")
    out["no_none"] = _edit(full, root / "no_none", lambda r: r["gold"] != "none")
    swap = {"hate": "none", "none": "hate", None: None}
    out["relabelled"] = _edit(full, root / "relabelled", lambda r: True,
                              lambda r: r.update(gold=swap[r["gold"]]))
    return out


def _file(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _one_line_exit_2(res: Any, *expected: str) -> str:
    """Exit 2, nothing on stdout, exactly one line on stderr holding every expected part."""
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in res.stderr
    for part in expected:
        assert part in lines[0], (part, lines[0])
    return lines[0]


FLOOR_GATE = {"require_complete": True,
              "defaults": {"floors": {"accuracy": 0.1}, "max_invalid_rate": 0.5}}
DROP_GATE = {"defaults": {"max_drop": {"accuracy": 0.5}}}


# ------------------------------------------------------------------------------------------------
# compare
# ------------------------------------------------------------------------------------------------


def test_compare_of_runs_with_no_item_in_common_exits_2(runs, cli_run, tmp_path):
    res = cli_run("compare", runs["first"], runs["last"])
    _one_line_exit_2(res, str(runs["first"]), str(runs["last"]), "no item in common",
                     "6 items only in the base, 6 only in the candidate", "same golden set")
    # a floor-only gate passed here before (its checks read the candidate alone): now exit 2 too,
    # and so does a drop gate (exit 1 before)
    for gate in (FLOOR_GATE, DROP_GATE):
        res = cli_run("compare", runs["first"], runs["last"], "--gate", _file(tmp_path, "g.yaml", gate))
        _one_line_exit_2(res, "no item in common")
    # the twin: runs that share items compare and pass the same gates
    assert cli_run("compare", runs["full"], runs["first"]).exit_code == 0
    for gate in (FLOOR_GATE, DROP_GATE):
        res = cli_run("compare", runs["full"], runs["full"], "--gate", _file(tmp_path, "g.yaml", gate))
        assert res.exit_code == 0, res.output


def test_compare_with_no_item_of_the_same_gold_exits_2(runs, cli_run):
    """Every paired item's gold differs between the runs: cost is comparable, quality is not."""
    res = cli_run("compare", runs["full"], runs["relabelled"])
    _one_line_exit_2(res, "share 12 items but none has the same known gold in both runs",
                     "same golden set version")
    assert cli_run("compare", runs["relabelled"], runs["relabelled"]).exit_code == 0


def test_a_gated_decider_with_no_paired_item_is_an_error_naming_it(runs, cli_run, tmp_path):
    """tfidf decided the first half in one run and the second half in the other; the human tier
    decided everything. Ungated, the comparison shows the raters and says tfidf compared
    nothing; gated, every check on tfidf — floors and invalid rate included, which would judge
    the candidate alone — is an error naming the pair."""
    res = cli_run("compare", runs["half_a"], runs["half_b"])
    assert res.exit_code == 0
    assert "hate\\_speech/tfidf: decided no item in both runs: nothing compared" in res.stdout
    for gate, field in ((FLOOR_GATE, "defaults.floors.accuracy"),
                        (DROP_GATE, "defaults.max_drop.accuracy")):
        path = _file(tmp_path, "g.yaml", gate)
        res = cli_run("compare", runs["half_a"], runs["half_b"], "--gate", path)
        _one_line_exit_2(res, f"{path}:", field, "0 items to check",
                         "hate_speech · tfidf", "decided no item in both runs")
        assert cli_run("compare", runs["half_a"], runs["half_a"], "--gate", path).exit_code == 0


@pytest.mark.parametrize("check", [
    {"floors": {"recall": 0.1}},
    {"max_drop": {"recall": 0.5}},
    {"max_drop": {"f1": {"max": 0.5, "test": "point_estimate"}}},
])
def test_a_label_check_on_a_label_without_gold_items_is_an_error(runs, cli_run, tmp_path, check):
    """A per-label check over zero gold items of its label: 'drop not checked' (a pass) or a
    plain failure before, now exit 2 naming the label."""
    gate = _file(tmp_path, "g.yaml", {"defaults": {"labels": {"hate": check}}})
    res = cli_run("compare", runs["no_hate"], runs["no_hate"], "--gate", gate)
    _one_line_exit_2(res, f"{gate}:", "defaults.labels.hate", "no graded item has gold hate",
                     "0 items to check")
    res = cli_run("compare", runs["full"], runs["full"], "--gate", gate)
    assert res.exit_code == 0, res.output


def test_a_gate_that_checks_nothing_exits_2(runs, cli_run, tmp_path):
    """Only `require_complete` set (which passes): the gate checks no metric of any decider."""
    gate = _file(tmp_path, "g.yaml", {"require_complete": True, "defaults": {}})
    res = cli_run("compare", runs["full"], runs["full"], "--gate", gate)
    _one_line_exit_2(res, str(gate), "the gate checks nothing on these runs")
    # a gate naming only the human tier checks it like any decider
    gate = _file(tmp_path, "g.yaml", {"deciders": ["raters"], **FLOOR_GATE})
    assert cli_run("compare", runs["full"], runs["full"], "--gate", gate).exit_code == 0


# ------------------------------------------------------------------------------------------------
# route
# ------------------------------------------------------------------------------------------------


def test_a_slice_target_over_a_value_without_items_exits_2(runs, cli_run, tmp_path):
    targets = _file(tmp_path, "t.yaml", {"slices": [
        {"key": "target", "value": "martians", "precision_target": 0.8}]})
    res = cli_run("route", runs["full"], "--targets", targets)
    _one_line_exit_2(res, str(targets), "slices.0.value", "slice target=martians",
                     "no graded hate_speech item", "'immigrants'", "'religion'", "'women'")
    assert not (runs["full"] / "routing.yaml").exists()
    # the same target in the run config's routing: block
    res = cli_run("route", runs["sliced"])
    _one_line_exit_2(res, "sliced.yaml", "slices.0.value", "slice target=martians")
    # the twin: a value with one item is routed, and reported as not judged where the
    # validation split has none of it (it used to be left out of the plan without a word)
    targets = _file(tmp_path, "t.yaml", {"slices": [
        {"key": "target", "value": "women", "precision_target": 0.8}]})
    res = cli_run("route", runs["full"], "--targets", targets)
    assert res.exit_code == 0, res.output
    plan = yaml.safe_load((runs["full"] / "routing.yaml").read_text())
    checks = [c for c in plan["policies"][0]["plan"]["target_checks"]
              if c["scope"] == "slice target=women"]
    assert [c["verdict"] for c in checks] == ["not_judged"]
    md = (runs["full"] / "routing.md").read_text()
    assert "slice target=women" in md and "too few items to judge" in md


def test_route_over_a_policy_without_gold_exits_2(runs, cli_run):
    res = cli_run("route", runs["no_gold"])
    _one_line_exit_2(res, str(runs["no_gold"] / "decisions.jsonl"), "policy hate_speech",
                     "none of its 12 decided items has a gold label", "label the golden set")
    res = cli_run("route", runs["no_hate"])
    _one_line_exit_2(res, "policy hate_speech", "none of its 6 graded items has violating gold")
    assert cli_run("route", runs["full"]).exit_code == 0


def test_a_label_target_on_a_label_without_gold_exits_2(runs, cli_run, tmp_path):
    targets = _file(tmp_path, "t.yaml", {"labels": {"none": {"recall": 0.5}}})
    res = cli_run("route", runs["no_none"], "--targets", targets)
    _one_line_exit_2(res, str(targets), "labels.none", "no graded item with gold 'none'")
    per_policy = _file(tmp_path, "p.yaml", {"policies": {"hate_speech": {
        "labels": {"none": {"precision": 0.5}}}}})
    res = cli_run("route", runs["no_none"], "--targets", per_policy)
    _one_line_exit_2(res, "policies.hate_speech.labels.none")
    assert cli_run("route", runs["full"], "--targets", targets).exit_code == 0


# ------------------------------------------------------------------------------------------------
# history
# ------------------------------------------------------------------------------------------------


def test_history_over_no_run_or_an_unknown_filter_exits_2(runs, cli_run, tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_exit_2(cli_run("history", tmp_path / "empty"), "RESULTS_DIR", "no run with decisions")
    parent = runs["full"].parent
    _one_line_exit_2(cli_run("history", parent, "--policy", "hate_speeh"), "--policy",
                     "'hate_speeh'", "hate_speech")
    _one_line_exit_2(cli_run("history", parent, "--decider", "tfdif"), "--decider", "tfidf")
    res = cli_run("history", parent, "--policy", "hate_speech", "--decider", "tfidf")
    assert res.exit_code == 0 and "tfidf" in res.stdout


def test_a_report_where_a_decider_skipped_a_slice_value_renders_a_dash(runs, cli_run):
    """tfidf decided only the first half, so some slice values have the raters' row and no
    tfidf row: the HTML shows '–' in that cell instead of failing (it once exited 70)."""
    res = cli_run("report", runs["half_a"])
    assert res.exit_code == 0, res.output
    html = (runs["half_a"] / "report.html").read_text()
    assert '<td class="num muted" data-v="">–</td>' in html
