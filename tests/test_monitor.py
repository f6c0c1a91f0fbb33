"""``evalharness monitor``: a plan signed by ``route`` checked against weekly production QA. The
anytime-valid sequences keep the false-revoke rate at or under alpha however many weeks are
looked at (seeded simulation through the public API, beside a weekly fixed-sample check that
does not); a drifting tier is revoked (exit 1); a good one holds; a thin sample is too early,
with the QA needed; bad QA files are one exit-2 line per row. Also ``import-qa``: a BPO export
becomes annotations whose real handling times reach the site scorecard."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from evalharness import recommend_tiers, run_eval
from evalharness.api import monitor_plan
from evalharness.stats.sequential import confidence_sequence

from conftest import REPO

ALPHA = 0.05


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> Path:
    """A run routed into a plan: a scored classifier as the automated tier, BPO raters last."""
    folder = tmp_path_factory.mktemp("signed")
    rng = np.random.default_rng(11)
    rows = []
    for i in range(1600):
        gold = "hate" if rng.random() < 0.3 else "none"
        p = float(rng.beta(6, 2) if gold == "hate" else rng.beta(2, 6))
        right = rng.random() < 0.95
        rows.append({"id": f"i{i}", "text": f"item {i}", "labels": {"hate_speech": gold},
                     "scores": {"clf": {"hate_speech": p}},
                     "annotations": [{"rater": "r1", "site": "manila", "seconds": 30.0,
                                      "labels": {"hate_speech": gold if right else
                                                 ("none" if gold == "hate" else "hate")}}]})
    golden = folder / "items.jsonl"
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "name": "signed", "golden_set": {"path": str(golden)}, "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [{"name": "clf", "kind": "precomputed", "scores": "clf"},
                     {"name": "bpo", "kind": "human", "cost_per_hour_usd": 12.0}]}))
    result = run_eval(config, out_dir=folder / "runs", live_progress=False)
    recommend_tiers(result.run_dir, precision_target=0.85, recall_target=0.8,
                    auto_clear_max_violating=0.1)
    return result.run_dir / "routing.yaml"


def _tiers(routing: Path) -> tuple[str, list[str]]:
    import yaml

    plan = yaml.safe_load(routing.read_text())["policies"][0]["plan"]
    return plan["verdict"], [t["decider"] for t in plan["tiers"]]


def _stream(path: Path, weeks: int, per_week: int, seed: int, *, precision, fn_share=0.02,
            human=0.95) -> Path:
    """QA rows: each week ``per_week`` of clf's auto-actions (QA agrees with ``precision(week)``),
    as many of its auto-clears (QA finds a violation with ``fn_share``) and of the raters'."""
    rng = np.random.default_rng(seed)
    start = dt.date(2026, 9, 7)  # a Monday
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["item_id", "tier", "decided", "qa", "date"])
        for w in range(weeks):
            day = (start + dt.timedelta(weeks=w)).isoformat()
            q = precision(w) if callable(precision) else precision
            for j in range(per_week):
                out.writerow([f"a{w}-{j}", "clf", "hate", "hate" if rng.random() < q else "none", day])
                out.writerow([f"c{w}-{j}", "clf", "none", "hate" if rng.random() < fn_share else "none", day])
                gold = "hate" if rng.random() < 0.5 else "none"
                said = gold if rng.random() < human else ("none" if gold == "hate" else "hate")
                out.writerow([f"h{w}-{j}", "bpo", said, gold, day])
    return path


def _precision_claim(report):
    return next(c for c in report.claims if c.tier == "clf" and c.metric == "precision")


def test_the_plan_monitored_is_a_signed_two_tier_plan(signed):
    verdict, tiers = _tiers(signed)
    assert verdict == "guaranteed" and tiers == ["clf", "bpo"]


@pytest.mark.slow
def test_weekly_looks_raise_no_more_false_revokes_than_alpha(signed, tmp_path):
    """At the boundary (true auto-action precision exactly at its target) over 26 weekly looks,
    monitor revokes in at most alpha of 200 seeds (and of 100 whose rate moves, never below the
    target); a 95% Wilson interval checked every week revokes far more often."""
    target = _precision_claim(monitor_plan(signed, _stream(tmp_path / "probe.csv", 1, 5, 0,
                                                           precision=0.9), out_dir=tmp_path)).required
    revoked = naive = 0
    seeds = 200
    for seed in range(seeds):
        qa = _stream(tmp_path / "qa.csv", 26, 40, seed, precision=target)
        report = monitor_plan(signed, qa, alpha=ALPHA, out_dir=tmp_path / "out")
        claim = _precision_claim(report)
        revoked += any(w.verdict == "revoke" for w in claim.weeks)
        naive += any(proportion_confint(w.k, w.n, ALPHA, "wilson")[1] < target
                     for w in claim.weeks if w.n)
    assert revoked / seeds <= ALPHA
    assert naive / seeds > 2 * ALPHA  # why weekly fixed-sample checks are not used
    # a rate that moves but never drops below the target is not revoked either
    moving = sum(
        _precision_claim(monitor_plan(signed, _stream(
            tmp_path / "qa.csv", 26, 40, seed, precision=lambda w: target if w % 3 else 0.97),
            alpha=ALPHA, out_dir=tmp_path / "out")).verdict == "revoke" for seed in range(100))
    assert moving / 100 <= ALPHA


def test_a_drifting_tier_is_revoked_and_the_command_exits_1(signed, tmp_path, cli_run):
    qa = _stream(tmp_path / "qa.csv", 16, 60, 3, precision=lambda w: 0.97 if w < 8 else 0.6)
    result = cli_run("monitor", signed, qa, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.stderr
    report = json.loads((tmp_path / "out" / "monitor.json").read_text())
    claim = next(c for c in report["claims"] if c["tier"] == "clf" and c["metric"] == "precision")
    assert claim["verdict"] == "revoke" and "revoke: tier clf's precision" in claim["message"]
    first = next(w["week"] for w in claim["weeks"] if w["verdict"] == "revoke")
    assert first > claim["weeks"][7]["week"]  # not before the drift
    assert [w["verdict"] for w in claim["weeks"][:8]].count("revoke") == 0
    assert "revoke: tier clf's precision" in result.stdout
    page = (tmp_path / "out" / "monitor.html").read_text()
    assert page.count("<svg") == len(report["claims"]) and "<script" not in page


def test_a_good_tier_holds_and_a_thin_sample_is_too_early(signed, tmp_path):
    good = monitor_plan(signed, _stream(tmp_path / "good.csv", 20, 80, 4, precision=0.99,
                                        fn_share=0.0), out_dir=tmp_path / "good")
    assert good.exit_code == 0
    assert _precision_claim(good).verdict == "holds"
    thin = monitor_plan(signed, _stream(tmp_path / "thin.csv", 1, 4, 5, precision=0.95),
                        out_dir=tmp_path / "thin")
    claim = _precision_claim(thin)
    assert claim.verdict == "too_early" and claim.items_needed and claim.items_needed > 4
    assert "QA items in all would decide it" in claim.message
    low, high = confidence_sequence(claim.weeks[-1].k, claim.weeks[-1].n, thin.claim_alpha / 2)
    assert (claim.weeks[-1].low, claim.weeks[-1].high) == (low, high)


def test_the_sequence_is_wider_than_the_fixed_sample_interval_it_replaces():
    for k, n in ((0, 10), (9, 10), (45, 50), (900, 1000), (1000, 1000)):
        low, high = confidence_sequence(k, n, 0.05)
        cp_low, cp_high = proportion_confint(k, n, 0.05, "beta")
        assert low <= cp_low + 1e-12 and high >= cp_high - 1e-12


@pytest.mark.parametrize("row, needle", [
    (["x", "llm", "hate", "hate", "2026-11-02"], "tier 'llm' is not a tier of hate_speech's plan"),
    (["x", "clf", "hateful", "hate", "2026-11-02"], "'hateful' is not a label of hate_speech"),
    (["x", "clf", "hate", "hate", "last tuesday"], "'last tuesday' is not a date"),
    (["x", "", "hate", "hate", "2026-11-02"], "empty tier"),
    (["ok", "clf", "hate", "none", "2026-11-03"], "item 'ok' is QA'd twice (first on line 2)"),
])
def test_a_bad_qa_row_is_one_clean_error(signed, tmp_path, cli_run, row, needle):
    qa = tmp_path / "qa.csv"
    qa.write_text("item_id,tier,decided,qa,date\nok,clf,hate,hate,2026-11-02\n"
                  + ",".join(row) + "\n")
    result = cli_run("monitor", signed, qa, "--out", tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "qa.csv:3" in lines[0] and needle in lines[0]


def test_an_empty_qa_file_or_a_missing_column_is_an_error(signed, tmp_path, cli_run):
    empty = tmp_path / "empty.csv"
    empty.write_text("item_id,tier,decided,qa,date\n")
    result = cli_run("monitor", signed, empty)
    assert result.exit_code == 2 and "no QA rows" in result.stderr
    short = tmp_path / "short.csv"
    short.write_text("item_id,tier,decided,date\nx,clf,hate,2026-11-02\n")
    result = cli_run("monitor", signed, short)
    assert result.exit_code == 2 and "no `qa` column" in result.stderr


def test_a_bpo_export_becomes_annotations_with_real_handling_times(tmp_path, cli_run,
                                                                   write_config):
    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps({"id": f"i{i}", "text": f"t{i}", "labels": {
        "hate_speech": "hate" if i % 3 == 0 else "none"}}) + "\n" for i in range(6)))
    export = tmp_path / "export.csv"
    rows = [["rater_id", "site", "item_id", "label", "handling_seconds", "timestamp"]]
    seconds = {"manila": 0.0, "krakow": 0.0}
    for i in range(6):
        for rater, site, took in (("m1", "manila", 20 + i), ("k1", "krakow", 41.5)):
            label = "hate" if i % 3 == 0 or (rater == "k1" and i == 1) else "none"
            rows.append([rater, site, f"i{i}", label, str(took), f"2026-11-0{i + 1}T10:00:00"])
            seconds[site] += took
    with open(export, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "with_bpo.jsonl"
    done = cli_run("import-qa", export, "--golden-set", golden, "--policy", "hate_speech",
                   "--out", out)
    assert done.exit_code == 0, done.stderr
    assert "12 judgments by 2 raters at 2 sites on 6 items" in done.stdout
    assert golden.read_text().count("annotations") == 0  # the source is never edited
    config = {"name": "bpo", "golden_set": {"path": str(out)}, "policies": ["hate_speech"],
              "policies_dir": str(REPO / "policies"),
              "deciders": [{"name": "vendor", "kind": "human", "cost_per_hour_usd": 10.0}]}
    result = run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)
    sites = {s.site: s for a in result.metrics.human_agreement for s in a.sites}
    for site, total in seconds.items():
        assert sites[site].handling_seconds == pytest.approx(total)
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join(",".join(r) for r in rows + [rows[1]]) + "\n")
    again = cli_run("import-qa", twice, "--golden-set", golden, "--policy", "hate_speech",
                    "--out", tmp_path / "x.jsonl")
    assert again.exit_code == 2 and "twice.csv:14" in again.stderr
    assert "judged item 'i0' on hate_speech twice" in again.stderr


def test_unreadable_plans_and_empty_parquet_cells_are_clean_errors(signed, tmp_path, cli_run):
    import pandas as pd

    latin = tmp_path / "routing.yaml"
    latin.write_bytes(b"run_id: caf\xe9\n")
    qa = tmp_path / "qa.csv"
    qa.write_text("item_id,tier,decided,qa,date\nx,clf,hate,hate,2026-11-02\n")
    result = cli_run("monitor", latin, qa)
    assert result.exit_code == 2 and "not UTF-8" in result.stderr
    frame = pd.DataFrame({"item_id": ["a", "b"], "tier": ["clf", "clf"], "decided": ["hate"] * 2,
                          "qa": ["hate", None],
                          "date": pd.to_datetime(["2026-11-02", "2026-11-03"])})
    frame.to_parquet(tmp_path / "qa.parquet")
    result = cli_run("monitor", signed, tmp_path / "qa.parquet", "--out", tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "qa.parquet:2" in result.stderr and "empty qa" in result.stderr


def test_import_qa_checks_the_policy_labels_and_keeps_photos_reachable(tmp_path, cli_run):
    source = REPO / "golden_sets" / "marketplace_listings" / "items.jsonl"
    export = tmp_path / "export.csv"
    export.write_text("rater_id,site,item_id,label,handling_seconds,timestamp\n"
                      "m1,manila,marketplace:1,none,30,2026-11-02T10:00:00+08:00\n")
    wrong_policy = cli_run("import-qa", export, "--golden-set", source, "--policy", "hate_speeech",
                           "--out", tmp_path / "a.jsonl")
    assert wrong_policy.exit_code == 2 and "no item of items.jsonl has a gold label for policy " \
        "'hate_speeech'" in wrong_policy.stderr
    out = tmp_path / "elsewhere" / "with_bpo.jsonl"
    out.parent.mkdir()
    done = cli_run("import-qa", export, "--golden-set", source, "--policy", "hate_speech",
                   "--out", out)
    assert done.exit_code == 0, done.stderr
    from evalharness.inputs.goldens import read_golden_set

    moved = read_golden_set(out)  # its photos are checked again from the new folder
    assert sum(bool(it.images) for it in moved) == 4
    export.write_text("rater_id,site,item_id,label,handling_seconds,timestamp\n"
                      "m1,manila,marketplace:1,hateful,30,2026-11-02T10:00:00\n")
    bad_label = cli_run("import-qa", export, "--golden-set", source, "--policy", "hate_speech",
                        "--out", tmp_path / "b.jsonl")
    assert bad_label.exit_code == 2 and "export.csv:2" in bad_label.stderr
    assert "'hateful' is not a label of hate_speech" in bad_label.stderr
    same = cli_run("import-qa", export, "--golden-set", source, "--policy", "hate_speech",
                   "--out", source)
    assert same.exit_code == 2 and "never edited" in same.stderr


def test_monitor_html_loads_inert_in_headless_chromium(signed, tmp_path):
    from test_report_html import ARGS, CHROMIUM
    from playwright import sync_api

    qa = _stream(tmp_path / "qa.csv", 6, 20, 9, precision=0.9)
    monitor_plan(signed, qa, out_dir=tmp_path)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((tmp_path / "monitor.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator("svg").count() == 4 and page.locator("tbody tr").count() == 4
        assert "Plan monitor" in page.inner_text("h1")
        browser.close()
    assert errors == []
