"""The metric statistics of ``metrics.json`` and comparisons, checked against the libraries that
define them (scikit-learn, scipy, statsmodels, krippendorff) and published worked examples.

Where our code evaluates a statistic for every bootstrap resample at once (vectorised), the
tests compute the library's value on each resample and compare the two.
"""

from __future__ import annotations

import doctest
import math
from fractions import Fraction

import krippendorff
import numpy as np
import pytest
import sklearn.metrics as skm
from scipy import stats
from sklearn.calibration import calibration_curve

from evalharness.records.kinds import OUTCOMES_NOT_OK
from evalharness.stats import agreement, binomial, bootstrap, classification, coded, paired, ranking
from evalharness.stats.agreement import alpha_bootstrap, krippendorff_alpha
from evalharness.stats.binomial import newcombe_difference, wilson
from evalharness.stats.bootstrap import bootstrap_distribution, bootstrap_interval, percentile_bounds
from evalharness.stats.poisson import item_weights
from evalharness.stats.classification import cohen_kappa, confusion_matrix
from evalharness.stats.coded import encode, rate_statistic
from evalharness.stats.paired import mcnemar_p
from evalharness.stats.ranking import (
    expected_calibration_error,
    reliability_bins,
    roc_auc,
    score_bootstrap,
)

LABELS = ["ok", "spam", "hate"]
OUTCOMES = list(OUTCOMES_NOT_OK)
CASES = {
    "mixed_outcomes": (
        ["ok", "ok", "spam", "spam", "hate", "hate", "ok", "spam", "hate", "ok", "spam", "ok"],
        ["ok", "spam", "spam", "invalid", "hate", "refusal", "error", "ok", "spam", "ok", "spam",
         "hate"],
    ),
    "hate_never_predicted": (["ok", "spam", "hate", "hate", "ok", "spam", "ok"],
                             ["ok", "spam", "ok", "refusal", "ok", "invalid", "spam"]),
    "perfect": (["ok", "spam", "hate", "ok", "spam", "hate"],
                ["ok", "spam", "hate", "ok", "spam", "hate"]),
    "random_200": (list(np.random.default_rng(7).choice(LABELS, 200)),
                   list(np.random.default_rng(8).choice(LABELS + OUTCOMES, 200,
                                                        p=[0.3, 0.3, 0.25, 0.05, 0.05, 0.05]))),
}


@pytest.mark.parametrize("module", [agreement, binomial, bootstrap, classification, paired, ranking])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 1 and result.failed == 0


# --- confusion matrix and kappa ------------------------------------------------------------------


def test_confusion_matrix_puts_outcomes_in_the_last_columns_by_hand():
    # gold spam: decided spam once, refusal once; gold ok: ok once, spam once
    got = confusion_matrix(["spam", "spam", "ok", "ok"], ["spam", "refusal", "ok", "spam"],
                           labels=["ok", "spam"])
    assert got.tolist() == [[1, 1, 0, 0, 0], [0, 1, 0, 1, 0]]
    assert confusion_matrix([], [], labels=["ok", "spam"]).tolist() == [[0] * 5, [0] * 5]


@pytest.mark.parametrize("gold, pred, match", [(["porn"], ["ok"], "not labels"),
                                               (["ok"], ["maybe"], "neither labels"),
                                               (["ok", "ok"], ["ok"], "length")])
def test_confusion_matrix_rejects_values_it_would_silently_drop(gold, pred, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(gold, pred, labels=LABELS)


def test_cohen_kappa_hand_example_and_undefined_cases():
    # p_o = 3/4; marginals gold (2 ok, 2 spam), pred (2 ok, 1 spam, 1 error): p_e = 6/16
    assert cohen_kappa(["ok", "ok", "spam", "spam"], ["ok", "ok", "spam", "error"],
                       labels=["ok", "spam"]) == pytest.approx(0.6, abs=1e-12)
    assert cohen_kappa([], [], labels=LABELS) is None
    assert cohen_kappa(["ok", "ok"], ["ok", "ok"], labels=LABELS) is None  # p_e = 1


# --- vectorised rates against sklearn, resample by resample -------------------------------------


def _sklearn(metric, label, gold, pred):
    if metric == "accuracy":
        return skm.accuracy_score(gold, pred)
    if metric == "coverage":
        return np.mean([p not in OUTCOMES for p in pred])
    if metric == "invalid_rate":
        return np.mean([p == "invalid" for p in pred])
    if metric == "cohen_kappa":
        with np.errstate(invalid="ignore"):
            return skm.cohen_kappa_score(gold, pred, labels=LABELS + OUTCOMES,
                                         replace_undefined_by=np.nan)
    p, r, f, _ = skm.precision_recall_fscore_support(gold, pred, labels=[label],
                                                     zero_division=np.nan)
    return {"precision": p, "recall": r, "f1": f}[metric][0]


METRICS = [(m, None) for m in coded.RATE_METRICS] + [
    (m, label) for label in LABELS for m in ("precision", "recall", "f1")]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("metric, label", METRICS)
def test_coded_rates_equal_sklearn_on_every_resample(case, metric, label):
    gold, pred = (np.array(v, dtype=object) for v in CASES[case])
    idx = np.random.default_rng(1).integers(0, len(gold), size=(40, len(gold)))
    stat = rate_statistic(metric, None if label is None else LABELS.index(label), len(LABELS))
    got = stat(encode(list(gold), LABELS)[idx], encode(list(pred), LABELS)[idx], axis=-1)
    ref = np.array([_sklearn(metric, label, list(gold[i]), list(pred[i])) for i in idx], dtype=float)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12, equal_nan=True)


def test_encode_names_a_value_that_is_neither_a_label_nor_an_outcome():
    with pytest.raises(ValueError, match="'maybe' is neither a label"):
        encode(["ok", "maybe"], LABELS)


# --- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_interval_is_scipys_percentile_interval():
    x = np.random.default_rng(3).normal(size=50)
    got = bootstrap_interval(lambda a, axis: a.mean(axis=axis), x, n_resamples=300, seed=11)
    ref = stats.bootstrap((x,), np.mean, n_resamples=300, method="percentile",
                          rng=np.random.default_rng(11)).confidence_interval
    assert got == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert bootstrap_interval(lambda a, axis: a.mean(axis=axis), x, n_resamples=300, seed=11) == got
    assert bootstrap_interval(lambda a, axis: a.mean(axis=axis), x, n_resamples=300, seed=12) != got


def test_bootstrap_resamples_items_jointly_and_drops_undefined_resamples():
    a = np.arange(40.0)
    assert bootstrap_interval(lambda u, v, axis: (u - v).mean(axis=axis), a, a.copy()) == (0.0, 0.0)
    # the mean of positive values only: resamples containing the 0 are undefined and dropped
    x = np.array([0.0, 1.0, 1.0])

    def positive_mean(v, axis):
        return np.where(v.min(axis=axis) > 0, v.mean(axis=axis), np.nan)

    assert bootstrap_interval(positive_mean, x, n_resamples=200) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_interval(lambda v, axis: v.sum(axis=axis) * np.nan, x))
    assert all(math.isnan(v) for v in bootstrap_interval(lambda v, axis: v.mean(axis=axis), []))
    assert bootstrap_interval(lambda v, axis: v.mean(axis=axis), [0.7]) == (0.7, 0.7)


def test_bootstrap_batches_give_the_same_resamples_as_one_batch(monkeypatch):
    x = np.random.default_rng(5).normal(size=30)
    whole = bootstrap_distribution(lambda a, axis: a.mean(axis=axis), x, n_resamples=100, seed=2)
    monkeypatch.setattr(bootstrap, "BATCH_CELLS", 30 * 7)  # batches of 7 resamples
    batched = bootstrap_distribution(lambda a, axis: a.mean(axis=axis), x, n_resamples=100, seed=2)
    np.testing.assert_array_equal(whole, batched)


def test_f1_interval_covers_the_population_f1():
    # A fixed population of (gold, prediction) cells in percent. For spam: TP 22, FP 4 + 3,
    # FN 4 + 1.5 + 1 + 1 + 0.5, so the population F1 is 44/59.
    cells = {
        ("spam", "spam"): 22, ("spam", "ok"): 4, ("spam", "hate"): 1.5, ("spam", "invalid"): 1,
        ("spam", "refusal"): 1, ("spam", "error"): 0.5,
        ("ok", "ok"): 44, ("ok", "spam"): 4, ("ok", "hate"): 1, ("ok", "invalid"): 0.5,
        ("ok", "refusal"): 0.5,
        ("hate", "hate"): 14, ("hate", "spam"): 3, ("hate", "ok"): 2, ("hate", "refusal"): 1,
    }
    keys = list(cells)
    probs = np.array([cells[k] for k in keys]) / 100
    gold = encode([k[0] for k in keys], LABELS)
    pred = encode([k[1] for k in keys], LABELS)
    f1 = rate_statistic("f1", LABELS.index("spam"), len(LABELS))
    rng = np.random.default_rng(2024)
    hits = 0
    for i in range(1000):
        idx = rng.choice(len(keys), size=300, p=probs)
        low, high = bootstrap_interval(f1, gold[idx], pred[idx], n_resamples=400, seed=i)
        hits += low <= 44 / 59 <= high
    # a 95% interval should hold the truth in 93-97% of draws; measured 0.942
    assert 0.93 <= hits / 1000 <= 0.97


# --- ranking and calibration ----------------------------------------------------------------------


def _scores(seed, n, decimals):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    return y, np.round(rng.random(n) * 0.8 + 0.2 * y, decimals)  # rounding makes ties


def test_auc_and_ap_are_undefined_with_one_class():
    assert roc_auc([1, 1], [0.2, 0.4]) is None
    assert ranking.average_precision([0, 0], [0.2, 0.4]) is None
    assert roc_auc([], []) is None


@pytest.mark.parametrize("seed, n, decimals", [(1, 40, 1), (2, 300, 2), (3, 200, 12)])
def test_score_bootstrap_equals_sklearn_on_every_resample(seed, n, decimals):
    # each Poisson resample is the items with sample_weight = their weights in it; AUC and AP
    # rank on the 1/1000 score grid (12 decimals: many scores share a level)
    y, s = _scores(seed, n, decimals)
    w = item_weights([f"item-{i}" for i in range(n)], n_resamples=200, seed=seed)
    grid = ranking._bins(s, ranking.SCORE_LEVELS) / ranking.SCORE_LEVELS
    bins = ranking._bins(s, 10)
    ref = np.full((3, w.shape[1]), np.nan)
    for b, sw in enumerate(w.T.astype(float)):
        drawn = sw > 0
        if y[drawn].any() and not y[drawn].all():
            ref[0, b] = skm.roc_auc_score(y, grid, sample_weight=sw)
            ref[1, b] = skm.average_precision_score(y, grid, sample_weight=sw)
        # no library has ECE: the weighted form of the point function (checked by hand below)
        gap = np.bincount(bins, weights=sw * y, minlength=10) - np.bincount(bins, weights=sw * s,
                                                                          minlength=10)
        ref[2, b] = np.abs(gap).sum() / sw.sum()
    low, high = np.nanpercentile(ref, [2.5, 97.5], axis=1)
    got = score_bootstrap(y, s, w, np.arange(n))
    for k, name in enumerate(("roc_auc", "average_precision", "ece")):
        # weights are summed in float32: exact for counts, 7 digits for the summed scores (ECE)
        assert got[name] == pytest.approx((low[k], high[k]), abs=1e-9 if k < 2 else 1e-6), name


def test_reliability_bins_agree_with_sklearn_calibration_curve():
    y, s = _scores(4, 500, 6)
    bins = [b for b in reliability_bins(y, s, n_bins=10) if b["n"]]
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([b["observed_rate"] for b in bins], prob_true, atol=1e-12)
    np.testing.assert_allclose([b["mean_confidence"] for b in bins], prob_pred, atol=1e-12)
    for b in bins:
        assert (b["ci_low"], b["ci_high"]) == pytest.approx(wilson(b["positives"], b["n"]))


def test_ece_and_bins_by_hand():
    # bins of 10: p=0.05 (0) gap 0.05; 0.15 (0), 0.15 (1) gap 0.35; 0.5 (1) gap 0.5 (0.5 is a low
    # edge: it goes up); 0.95, 1.0, 1.0 (1, 1, 0): conf 0.98333, rate 2/3, gap 0.316667
    # ECE = (0.05 + 2 * 0.35 + 0.5 + 3 * 0.316667) / 7 = 2.2 / 7
    y = [0, 0, 1, 1, 1, 1, 0]
    p = [0.05, 0.15, 0.15, 0.5, 0.95, 1.0, 1.0]
    assert expected_calibration_error(y, p) == pytest.approx(2.2 / 7, abs=1e-12)
    bins = reliability_bins(y, p)
    assert [b["n"] for b in bins] == [1, 2, 0, 0, 0, 1, 0, 0, 0, 3]
    assert bins[2]["observed_rate"] is None and (bins[2]["ci_low"], bins[2]["ci_high"]) == (0.0, 1.0)
    assert expected_calibration_error([], []) is None


@pytest.mark.parametrize("prob, n_bins, expected_bin", [(0.3, 10, 3), (0.29, 100, 29),
                                                        (0.0, 10, 0), (1.0, 10, 9)])
def test_bin_edges_are_exact(prob, n_bins, expected_bin):
    # np.linspace(0, 1, 11)[3] is 0.30000000000000004 and 0.29 * 100 is 28.999999999999996
    assert [b["n"] for b in reliability_bins([1], [prob], n_bins=n_bins)].index(1) == expected_bin


# --- agreement ------------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers x 12 units,
# nominal alpha 0.743 (= 113/152 worked by hand); Wikipedia's 3 x 15 example: 0.691 (= 56/81).
KRIPP = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
         [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]
WIKI = [[None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
        [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
        [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4]]


@pytest.mark.parametrize("data, expected", [(KRIPP, Fraction(113, 152)), (WIKI, Fraction(56, 81))])
def test_krippendorff_alpha_published_examples(data, expected):
    units = [[v for v in col if v is not None] for col in zip(*data)]
    assert krippendorff_alpha(units) == pytest.approx(float(expected), abs=1e-12)
    names = {1: "ok", 2: "spam", 3: "hate", 4: "refusal", 5: "x"}
    assert krippendorff_alpha([[names[v] for v in u] for u in units]) == pytest.approx(float(expected))


def test_krippendorff_alpha_undefined_cases():
    assert krippendorff_alpha([["a"], ["b"], []]) is None  # nothing pairable
    assert krippendorff_alpha([["a", "a"], ["a", "a", "a"], ["b"]]) is None  # one category
    assert krippendorff_alpha([["a", "b"], ["b", "a"]]) == pytest.approx(-0.5)


def test_alpha_bootstrap_equals_the_package_on_every_resample():
    rng = np.random.default_rng(9)
    units = [list(rng.choice(["ok", "spam", "hate"], size=rng.integers(2, 5), p=[0.6, 0.3, 0.1]))
             for _ in range(60)]
    counts = agreement.value_counts(units)

    def library(idx, axis=-1):
        rows = idx.reshape(-1, idx.shape[-1])
        out = np.full(len(rows), np.nan)
        for r, i in enumerate(rows):
            if (counts[i].sum(axis=0) > 0).sum() > 1:
                out[r] = krippendorff.alpha(value_counts=counts[i], level_of_measurement="nominal")
        return out

    low, high = percentile_bounds(bootstrap_distribution(library, np.arange(len(units)),
                                                         n_resamples=300, seed=4))
    assert alpha_bootstrap(units, n_resamples=300, seed=4) == pytest.approx((low, high), abs=1e-9)


# --- tests and intervals of proportions --------------------------------------------------------


@pytest.mark.parametrize("b, c", [(1, 5), (5, 1), (3, 3), (0, 7), (10, 25), (40, 41), (120, 80)])
def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_items(b, c):
    assert mcnemar_p(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)
    assert mcnemar_p(0, 0) == 1.0


def test_wilson_reproduces_newcombe_1998_table_1():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score interval)
    for (k, n), expected in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                             (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        assert tuple(round(x, 4) for x in wilson(k, n)) == expected
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0 and wilson(0, 0) is None


@pytest.mark.parametrize("p, n", [(0.3, 200), (0.9, 100)])
def test_wilson_coverage_by_simulation(p, n):
    # exact coverage is 0.947 for (0.3, 200) and 0.936 for (0.9, 100)
    intervals = np.array([wilson(k, n) for k in range(n + 1)])
    draws = np.random.default_rng(12345).binomial(n, p, size=2000)
    covered = (intervals[draws, 0] <= p) & (p <= intervals[draws, 1])
    assert 0.93 <= covered.mean() <= 0.97


def test_newcombe_difference_reproduces_the_published_examples():
    # Newcombe (1998b), Statistics in Medicine 17:873-890, Table II, method 10: (a) 56/70 - 48/80
    # = 0.2 [0.0524, 0.3339]; (b) 9/10 - 3/10 = 0.6 [0.1705, 0.8090]; (f) 10/10 - 0/20 = 1
    # [0.6791, 1]
    assert [round(x, 4) for x in newcombe_difference(56, 70, 48, 80)] == [0.2, 0.0524, 0.3339]
    assert [round(x, 4) for x in newcombe_difference(9, 10, 3, 10)] == [0.6, 0.1705, 0.809]
    assert [round(x, 4) for x in newcombe_difference(10, 10, 0, 20)] == [1.0, 0.6791, 1.0]
    with pytest.raises(ValueError, match="trials"):
        newcombe_difference(1, 0, 1, 2)
