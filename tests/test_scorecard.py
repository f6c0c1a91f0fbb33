"""metrics.json additions: score quality, paired differences, rater agreement, BPO site scorecards.

Checked against scikit-learn, scipy and statsmodels where they have the same metric, and against
hand computations on small examples (the vectorised bootstraps are checked resample by resample
in test_metric_stats.py).
"""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from evalharness.execution.rundir import RunDir
from evalharness.records import Decision, slice_values
from evalharness.scoring.best import paired_difference
from evalharness.scoring.humans import alpha_interval, human_agreement, site_scores
from evalharness.scoring.metrics_file import build_metrics
from evalharness.scoring.rows import score_quality
from evalharness.stats.agreement import krippendorff_alpha
from evalharness.stats.poisson import item_weights

from conftest import SOUTH


def _decision(item: str, gold: str | None, label: str | None, *, decider: str = "d",
              outcome: str = "ok", scores: dict[str, float] | None = None,
              kind: str = "classic", **extra) -> Decision:
    return Decision(item_id=item, policy="p", decider=decider, decider_kind=kind, label=label,
                    outcome=outcome, gold=gold, scores=scores, **extra)


# --------------------------------------------------------------------------------------------
# ranking and calibration
# --------------------------------------------------------------------------------------------


def test_score_quality_matches_sklearn_and_leaves_out_non_ok():
    rng = np.random.default_rng(3)
    decisions = []
    for i in range(40):
        gold = "hate" if i % 3 == 0 else "none"
        p = float(np.clip(rng.normal(0.65 if gold == "hate" else 0.35, 0.2), 0, 1))
        decisions.append(_decision(f"i{i}", gold, "hate" if p >= 0.5 else "none",
                                   scores={"hate": p, "none": 1 - p}))
    # three decisions without a score: they must be left out and counted, never scored as 0
    decisions += [_decision("x1", "hate", None, outcome="error"),
                  _decision("x2", "none", None, outcome="invalid"),
                  _decision("x3", "hate", None, outcome="refusal")]
    sq = score_quality(decisions, ["hate"])
    ok = [d for d in decisions if d.outcome == "ok"]
    y = [d.gold == "hate" for d in ok]
    s = [d.scores["hate"] for d in ok]
    assert (sq.n_scored, sq.n_unscored, sq.n_positive) == (40, 3, sum(y))
    assert sq.roc_auc.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert sq.average_precision.value == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert sq.roc_auc.low < sq.roc_auc.value < sq.roc_auc.high
    assert sum(b.n for b in sq.reliability) == 40


def test_p_violating_sums_every_violating_label():
    # three labels, two of them violating: P(violating) = 0.5 + 0.2
    d = [_decision("a", "slur", "slur", scores={"slur": 0.5, "threat": 0.2, "none": 0.3}),
         _decision("b", "none", "none", scores={"slur": 0.1, "threat": 0.1, "none": 0.8})]
    sq = score_quality(d, ["slur", "threat"])
    bins = {b.low: b for b in sq.reliability if b.n}
    assert bins[0.7].mean_confidence == pytest.approx(0.7) and bins[0.7].positives == 1
    assert bins[0.2].mean_confidence == pytest.approx(0.2) and bins[0.2].positives == 0


def test_ece_hand_computed():
    # 10 bins: 0.1 -> [0.1, 0.2) gap 0.1; 0.7 -> gap 0.3; 0.9 and 1.0 -> [0.9, 1.0], mean 0.95,
    # gap 0.05. ECE = 0.1/4 + 0.3/4 + 2 * 0.05/4 = 0.125
    probs, golds = [0.1, 0.7, 0.9, 1.0], ["none", "hate", "hate", "hate"]
    d = [_decision(f"i{i}", g, "hate", scores={"hate": p, "none": 1 - p})
         for i, (p, g) in enumerate(zip(probs, golds))]
    assert score_quality(d, ["hate"]).ece.value == pytest.approx(0.125, abs=1e-12)


# --------------------------------------------------------------------------------------------
# paired differences
# --------------------------------------------------------------------------------------------


def test_paired_difference_on_the_items_both_decided():
    # items 1-6; A right on 1,2,3,4,5; B right on 1,2,6; B has no gold on item 7 (left out)
    gold = ["x"] * 6
    a = [_decision(f"i{k}", g, "x" if k <= 5 else "y", decider="A")
         for k, g in enumerate(gold, start=1)] + [_decision("i7", "x", "x", decider="A")]
    b = [_decision(f"i{k}", g, "x" if k in (1, 2, 6) else "y", decider="B")
         for k, g in enumerate(gold, start=1)] + [_decision("i7", None, "x", decider="B")]
    d = paired_difference(a, b, "B")
    assert d is not None and d.reference == "B" and d.n == 6 and d.n_left_out == 1
    assert d.difference.value == pytest.approx(5 / 6 - 3 / 6)
    assert (d.only_this_right, d.only_reference_right) == (3, 1)
    # McNemar: the exact binomial test of 3 against 1 discordant items = 10/16
    assert d.p_value == pytest.approx(stats.binomtest(3, 4, 0.5).pvalue) == pytest.approx(0.625)
    # the interval: numpy's weighted mean of the per-item differences in each Poisson resample
    # of the six items (seed 0), and the 2.5 and 97.5 percentiles of those means
    per_item = np.array([0, 0, 1, 1, 1, -1], dtype=float)
    w = item_weights([f"i{k}" for k in range(1, 7)], seed=0).astype(float)
    means = [np.average(per_item, weights=col) if col.sum() else np.nan for col in w.T]
    assert (d.difference.low, d.difference.high) == pytest.approx(
        tuple(np.nanpercentile(means, [2.5, 97.5])))


# --------------------------------------------------------------------------------------------
# rater agreement
# --------------------------------------------------------------------------------------------


def _rater_rows(units: list[list[str]]) -> list[Decision]:
    rows = []
    for i, unit in enumerate(units):
        for j, label in enumerate(unit):
            rows.append(_decision(f"u{i}", None, label, decider=f"h/r{j}", kind="human_rater",
                                  rater=f"r{j}"))
    return rows


def test_krippendorff_per_label_hand_computed():
    # Units (a,a) (a,b) (c,c) (b,b) (a,c); n = 10 ratings.
    # Overall: n_a=4, n_b=3, n_c=3, agreeing pairs o_aa=o_bb=o_cc=2:
    #   alpha = (9*6 - (12+6+6)) / (10*9 - 24) = 30/66
    # "a" vs rest: ones 4, zeros 6; o_11 = 2, o_00 = 4 (units 3 and 4):
    #   alpha = (9*6 - (4*3 + 6*5)) / (90 - 42) = 12/48 = 0.25
    # "b" vs rest and "c" vs rest: ones 3, zeros 7, o_11 = 2, o_00 = 6:
    #   alpha = (9*8 - (3*2 + 7*6)) / (90 - 48) = 24/42
    units = [["a", "a"], ["a", "b"], ["c", "c"], ["b", "b"], ["a", "c"]]
    agreement = human_agreement(_rater_rows(units), "p", "h", labels=["a", "b", "c"])
    assert agreement.krippendorff_alpha == pytest.approx(30 / 66)
    assert agreement.alpha.value == pytest.approx(30 / 66)
    per = {la.label: la for la in agreement.labels}
    assert per["a"].alpha.value == pytest.approx(0.25)
    assert per["b"].alpha.value == pytest.approx(24 / 42)
    assert per["c"].alpha.value == pytest.approx(24 / 42)
    assert (per["a"].n_items, per["a"].n_split) == (3, 2)   # units 1, 2, 5; split on 2 and 5
    assert (per["b"].n_items, per["b"].n_split) == (2, 1)
    assert agreement.n_split_items == 2
    assert alpha_interval(units).value == pytest.approx(30 / 66)


def test_alpha_undefined_is_null_not_nan():
    agreement = human_agreement(_rater_rows([["a", "a"], ["a", "a"]]), "p", "h", labels=["a", "b"])
    assert agreement.krippendorff_alpha is None and agreement.alpha.value is None


# --------------------------------------------------------------------------------------------
# BPO sites
# --------------------------------------------------------------------------------------------


def test_site_significance():
    rows = {"big": [_decision(f"a{i}", "x", "x" if i < 90 else "y", kind="human_rater",
                              rater="r1", site="big", latency_s=30.0) for i in range(100)],
            "weak": [_decision(f"b{i}", "x", "x" if i < 60 else "y", kind="human_rater",
                               rater="r2", site="weak", latency_s=60.0) for i in range(100)]}
    sites, best = site_scores(rows, ["x", "y"])
    assert best == "big"
    weak = next(s for s in sites if s.site == "weak")
    assert weak.accuracy_vs_best.significant and weak.accuracy_vs_best.difference.high < 0
    assert weak.accuracy_vs_best.difference.method == "newcombe"
    assert weak.items_per_hour.value == pytest.approx(60.0)


def test_site_scorecards_hand_checked(report_run):
    """The fixture's sites, worked out by hand from tests/fixtures/report/items.jsonl.

    north = raters a, b (20 s a judgment, $18/h); south = raters c, d (40 s, $36/h). Gold is QA
    gold (not from the raters). 12 judgments each:
      north right on all but x04 (b said none) and x09 (a said hate): 10/12;
            hate items x01 x02 x03 x04 x11 -> 4/5 recalled; none items -> 6/7.
      south wrong on x02, x03 (d said none) and x06 (d said hate): 9/12; hate 3/5, none 6/7.
    Throughput 3600 * 12 / 240 s = 180/h and 3600 * 12 / 480 s = 90/h.
    Cost $18 * 20/3600 = $0.10 and $36 * 40/3600 = $0.40 a judgment; per correct 1.2/10, 4.8/9.
    """
    metrics = RunDir(report_run).read_metrics()
    agreement = metrics.human_agreement[0]
    sites = {s.site: s for s in agreement.sites}
    north, south = sites["north"], sites[SOUTH]
    assert (north.n, north.raters, north.accuracy.value) == (12, 2, pytest.approx(10 / 12))
    assert (south.n, south.raters, south.accuracy.value) == (12, 2, pytest.approx(9 / 12))
    assert north.recall["hate"].value == pytest.approx(4 / 5)
    assert north.recall["none"].value == pytest.approx(6 / 7)
    assert south.recall["hate"].value == pytest.approx(3 / 5)
    assert south.recall["none"].value == pytest.approx(6 / 7)
    assert north.items_per_hour.value == pytest.approx(180.0)
    assert south.items_per_hour.value == pytest.approx(90.0)
    assert north.cost_per_decision_usd == pytest.approx(0.10)
    assert south.cost_per_decision_usd == pytest.approx(0.40)
    assert north.cost_per_correct_usd == pytest.approx(1.2 / 10)
    assert south.cost_per_correct_usd == pytest.approx(4.8 / 9)
    assert agreement.best_site == "north" and north.accuracy_vs_best is None
    low, high = confint_proportions_2indep(9, 12, 10, 12, method="newcomb", compare="diff")
    d = 9 / 12 - 10 / 12
    diff = south.accuracy_vs_best
    assert diff.reference == "north" and not diff.significant
    assert (diff.difference.value, diff.difference.low, diff.difference.high) == pytest.approx(
        (d, low, high))
    lo, hi = proportion_confint(10, 12, method="wilson")
    assert (north.accuracy.low, north.accuracy.high) == pytest.approx((lo, hi))
    # per-rater rows carry the site from the config's mapping
    assert {r.rater: r.site for r in agreement.raters} == {
        "a": "north", "b": "north", "c": SOUTH, "d": SOUTH}
    # raters split on x02 x03 x04 x06 x09; alpha of 12 two-rating units = 40/270 (see
    # test_report_fixture_alpha for the working)
    assert agreement.n_split_items == 5
    assert agreement.krippendorff_alpha == pytest.approx(40 / 270)


def test_report_fixture_alpha():
    # 12 units of 2 ratings: 9 "hate" and 15 "none" ratings, n = 24. Agreeing units: two
    # hate-hate (o_hh = 4) and five none-none (o_nn = 10); five split units.
    # alpha = (23 * 14 - (9*8 + 15*14)) / (24*23 - 282) = 40/270
    units = ([["hate", "hate"]] * 2 + [["none", "none"]] * 5 + [["hate", "none"]] * 5)
    assert krippendorff_alpha(units) == pytest.approx(40 / 270)


def test_fixture_scores_match_sklearn(report_run):
    run = RunDir(report_run)
    metrics = run.read_metrics()
    decisions = run.read_decisions()
    for decider in ("tfidf", "prod"):
        row = next(r for r in metrics.results if r.decider == decider and r.slice is None)
        ok = [d for d in decisions if d.decider == decider and d.outcome == "ok"]
        y = [d.gold == "hate" for d in ok]
        s = [d.scores["hate"] for d in ok]
        sq = row.score_quality
        assert sq.n_scored == len(ok)
        assert sq.roc_auc.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert sq.average_precision.value == pytest.approx(average_precision_score(y, s),
                                                           abs=1e-12)
    prod = next(r for r in metrics.results if r.decider == "prod" and r.slice is None)
    # x12 has no production score: an error outcome, left out of AUC and counted.
    # Hand: positives .3 .8 .4 .7 .95 against negatives .1 .6 .2 .3 .4 .05: pairs won
    # 3.5 + 6 + 4.5 + 6 + 6 = 26 of 30 (a tie counts a half).
    assert prod.outcomes["error"] == 1 and prod.score_quality.n_unscored == 1
    assert prod.score_quality.roc_auc.value == pytest.approx(26 / 30)
    # ECE by hand over 10 bins (no library has it): gaps |observed - mean predicted| x n are
    # .05 (x10) + .1 (x05) + .2 (x07) + 2 x .2 (x01, x08: 0.3, one hate) + 2 x .1 (x03, x09: 0.4,
    # one hate) + .6 (x06) + .3 (x04) + .2 (x02) + .05 (x11) = 2.1, over 11 scored items
    assert prod.score_quality.ece.value == pytest.approx(2.1 / 11)
    assert next(r for r in metrics.results if r.decider == "raters").score_quality is None
    assert "NaN" not in run.file("metrics.json").read_text()
    # every slice row too: AUC as sklearn computes it on the slice's scored decisions (None with
    # one class)
    checked = 0
    for r in metrics.results:
        sq = r.score_quality
        if r.slice is None or sq is None:
            continue
        ok = [d for d in decisions if d.decider == r.decider and d.outcome == "ok" and d.gold
              and r.slice.value in slice_values(d.meta, r.slice.key)]
        y = [d.gold == "hate" for d in ok]
        s = [d.scores["hate"] for d in ok]
        assert sq.n_scored == len(ok)
        if any(y) and not all(y):
            assert sq.roc_auc.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
            checked += 1
        else:
            assert sq.roc_auc.value is None
        assert (sq.ece.value is None) == (not ok)
    assert checked >= 2


@pytest.mark.parametrize("module", ["evalharness.scoring.humans", "evalharness.records.kinds",
                                    "evalharness.records.metrics"])
def test_docstring_examples(module):
    failures, attempted = doctest.testmod(importlib.import_module(module))
    assert attempted >= 1 and failures == 0


def _row(item: str, decider: str, kind: str, label: str, gold: str | None) -> Decision:
    return Decision(item_id=item, policy="hate_speech", decider=decider, decider_kind=kind,
                    label=label, outcome="ok", gold=gold)


def test_human_and_machine_are_compared_on_the_same_items_and_the_same_gold():
    # 20 items. The human tier is graded leave-one-out: on 5 items the other raters tied (no
    # gold), and on item i19 their majority ("none") differs from QA gold ("hate").
    rows = []
    for i in range(20):
        qa = "hate" if i % 2 else "none"
        human_gold = None if i < 5 else ("none" if i == 19 else qa)
        machine = qa if (i < 5 or i >= 8) else ("none" if qa == "hate" else "hate")
        rows.append(_row(f"i{i}", "clf", "classic", machine, qa))
        rows.append(_row(f"i{i}", "raters", "human", human_gold or qa, human_gold))
    metrics = build_metrics("r", rows, {"hate_speech": ["hate", "none"]})
    by = {r.decider: r for r in metrics.results}
    # each decider's own row: the machine on all 20 (QA gold), the human tier on its 15
    assert (by["clf"].n, by["raters"].n, by["raters"].n_no_gold) == (20, 15, 5)
    # ranked on the 15 items both can be graded on, against the human tier's gold: raters 15/15,
    # clf 11/15 (i5-i7 wrong, and i19 — right by QA gold, wrong by the raters' gold)
    assert by["raters"].best == "point_estimate" and by["clf"].best is None
    d = by["clf"].accuracy_vs_best
    assert d.reference == "raters" and d.n == 15
    assert (d.only_this_right, d.only_reference_right) == (0, 4)
    assert d.difference.value == pytest.approx(11 / 15 - 1)
    assert d.n_left_out == 5 and "the other raters tied" in d.left_out_reason


def _three(wrong_every: dict[str, int], n: int = 200) -> list[Decision]:
    """Deciders that get every item right except every k-th (``k = wrong_every[name]``)."""
    rows = []
    for i in range(n):
        gold = "hate" if i % 2 else "none"
        other = "none" if gold == "hate" else "hate"
        for name, k in wrong_every.items():
            rows.append(_row(f"i{i}", name, "classic", other if k and i % k == 0 else gold, gold))
    return rows


def test_best_is_significant_only_when_ahead_of_every_other_after_holm():
    labels = {"hate_speech": ["hate", "none"]}
    # good is always right; close is wrong on 8 items (McNemar p = 2 * 0.5**8 = 0.0078), bad on
    # 67 (p ~ 1e-20). Holm: the smaller p is compared with 0.05/2, the larger with 0.05 (its
    # adjusted p stays 0.0078): good is significantly ahead of both
    by = {r.decider: r for r in build_metrics("r", _three({"good": 0, "close": 25, "bad": 3}),
                                              labels).results}
    assert by["good"].best == "significant"
    assert by["close"].accuracy_vs_best.p_holm == pytest.approx(2 * 0.5 ** 8)
    assert by["bad"].accuracy_vs_best.p_holm == pytest.approx(2 * by["bad"].accuracy_vs_best.p_value)
    assert by["close"].accuracy_vs_best.significant and by["bad"].accuracy_vs_best.significant
    # close wrong on only 2 items (p = 0.5): good is merely the highest point estimate
    by = {r.decider: r for r in build_metrics("r", _three({"good": 0, "close": 100}),
                                              labels).results}
    assert by["good"].best == "point_estimate" and not by["close"].accuracy_vs_best.significant


def test_best_is_never_significant_when_another_decider_beats_it_on_their_items():
    # "top" is ranked first on the 10 items every decider decided; "wide" decided 70 more items
    # and beats "top" on the items both decided. The label must not say "significantly ahead".
    labels = {"hate_speech": ["hate", "none"]}
    rows = []
    for i in range(80):
        gold = "hate" if i % 2 else "none"
        other = "none" if gold == "hate" else "hate"
        rows.append(_row(f"i{i}", "top", "classic", gold if i < 10 or i % 4 == 0 else other, gold))
        rows.append(_row(f"i{i}", "wide", "classic", gold if i >= 10 or i < 5 else other, gold))
        if i < 10:
            rows.append(_row(f"i{i}", "narrow", "classic", other, gold))
    by = {r.decider: r for r in build_metrics("r", rows, labels).results}
    assert by["top"].best == "point_estimate"
    wide = by["wide"].accuracy_vs_best
    assert wide.reference == "top" and wide.difference.value > 0 and wide.significant


def test_overwhelming_differences_are_significant():
    # 1,100 discordant items all one way: the exact p-value underflows to 0.0, which is the
    # strongest evidence, not missing evidence
    by = {r.decider: r for r in build_metrics("r", _three({"good": 0, "bad": 1}, n=1100),
                                              {"hate_speech": ["hate", "none"]}).results}
    assert by["bad"].accuracy_vs_best.p_value == 0.0
    assert by["bad"].accuracy_vs_best.significant and by["good"].best == "significant"
