"""The statistics layer against the libraries that define each method and against published worked
examples; coverage of the production-prevalence intervals by simulation."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint

from evalharness.records import Decision
from evalharness.scoring.metrics_file import build_metrics
from evalharness.stats.binomial import (
    clopper_pearson,
    lower_bound,
    lower_bounds,
    p_greater,
    p_less,
    upper_bound,
    wilson,
)
from evalharness.stats.multiplicity import holm
from evalharness.stats.paired import PairedCounts, newcombe_paired_interval
from evalharness.stats.power import detectable_difference
from evalharness.stats.strata import Prevalence, StratifiedRate, weighted_share


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (9, 10), (10, 10), (37, 120), (0, 1), (3, 3),
                                 (480, 500)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_exact_bounds_equal_scipy_binomtest(k, n, confidence):
    lo = binomtest(k, n, alternative="greater").proportion_ci(confidence, method="exact").low
    hi = binomtest(k, n, alternative="less").proportion_ci(confidence, method="exact").high
    assert lower_bound(k, n, confidence) == pytest.approx(lo, abs=1e-9)
    assert upper_bound(k, n, confidence) == pytest.approx(hi, abs=1e-9)
    assert lower_bounds([k], [n], confidence)[0] == pytest.approx(lo, abs=1e-9)
    two = binomtest(k, n).proportion_ci(confidence, method="exact")
    assert clopper_pearson(k, n, confidence) == pytest.approx((two.low, two.high), abs=1e-9)
    for target in (0.05, 0.5, 0.9):
        assert p_greater(k, n, target) == pytest.approx(
            binomtest(k, n, target, alternative="greater").pvalue, rel=1e-9, abs=1e-15)
        assert p_less(k, n, target) == pytest.approx(
            binomtest(k, n, target, alternative="less").pvalue, rel=1e-9, abs=1e-15)
        # the bound meets the target exactly when the test rejects at 1 - confidence
        if abs(lo - target) > 1e-9:
            assert (lo >= target) == (p_greater(k, n, target) <= 1 - confidence)


def test_no_items_is_not_a_result():
    assert lower_bound(0, 0, 0.95) == 0.0 and upper_bound(0, 0, 0.95) == 1.0
    assert p_greater(0, 0, 0.5) == 1.0 and clopper_pearson(0, 0) is None and wilson(0, 0) is None


def test_wilson_matches_statsmodels_and_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:857, Table I: 81/263 -> 0.2553 to 0.3662 (method 3)
    assert [round(x, 4) for x in wilson(81, 263)] == [0.2553, 0.3662]
    assert wilson(8, 10) == pytest.approx(proportion_confint(8, 10, method="wilson"))


def test_holm_on_the_textbook_example():
    # four hypotheses with p = 0.01, 0.04, 0.03, 0.005 at alpha 0.05: Holm rejects the first and
    # the fourth (0.005 <= 0.05/4, 0.01 <= 0.05/3, then 0.03 > 0.05/2 stops)
    reject, adjusted = holm([0.01, 0.04, 0.03, 0.005], 0.05)
    assert reject == [True, False, False, True]
    assert adjusted == pytest.approx(list(multipletests([0.01, 0.04, 0.03, 0.005],
                                                        method="holm")[1]))
    assert holm([0.03], 0.05) == ([True], [0.03]) and holm([], 0.05) == ([], [])


def test_newcombe_paired_interval_reproduces_the_published_examples():
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8:
    # Cavo et al. (2012): 59 / 6 / 16 / 80 -> -0.0621 (95% CI -0.1186 to -0.0046)
    low, high = newcombe_paired_interval(PairedCounts(59, 6, 16, 80), 0.95)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)
    counts = PairedCounts(59, 6, 16, 80)
    assert counts.difference == pytest.approx(-10 / 161) and counts.n == 161
    assert newcombe_paired_interval(PairedCounts(0, 0, 0, 0)) is None


def test_one_sided_paired_bound_covers_at_its_level():
    # 2,000 pairs of runs on 250 items, 10% discordant, true difference 0: the one-sided 95%
    # upper bound of the drop is below 0 (a false "it improved") in at most ~5% of draws
    rng = np.random.default_rng(3)
    misses, draws = 0, 2000
    for _ in range(draws):
        flip, up, right = rng.random(250) < 0.1, rng.random(250) < 0.5, rng.random(250) < 0.7
        counts = PairedCounts(both=int((~flip & right).sum()),
                              candidate_only=int((flip & up).sum()),
                              base_only=int((flip & ~up).sum()),
                              neither=int((~flip & ~right).sum()))
        low, _ = newcombe_paired_interval(counts, 0.90)
        misses += low > 0  # the candidate "shown" better although it is not
    assert misses <= 0.065 * draws, misses


def test_detectable_difference_has_the_stated_power():
    d = detectable_difference(250, 0.1 ** 0.5, alpha=0.05, power=0.8)
    assert NormalIndPower().power(effect_size=d / 0.1 ** 0.5, nobs1=250, alpha=0.05, ratio=0,
                                  alternative="larger") == pytest.approx(0.8, abs=1e-6)
    assert detectable_difference(0, 1.0, alpha=0.05) is None


def test_rates_at_the_golden_sets_own_mix_equal_the_plain_rates():
    # weighting the strata to the prevalence they already have changes nothing
    rate = StratifiedRate.across(90, 300, 10, 700, stratum_a=0)
    assert rate.value(Prevalence(0.3)) == pytest.approx(rate.value(None)) == pytest.approx(0.9)
    share = weighted_share((30, 70), (300, 700), Prevalence(0.3))
    assert share.value == pytest.approx(0.1)


def test_no_false_positive_is_not_precision_one_at_low_prevalence():
    # 30 of 300 violating items called, none of 700 others: the golden set says precision 1.0
    # (exact lower bound 0.88); at 1% prevalence the data allow precision as low as ~0.16
    rate = StratifiedRate.across(30, 300, 0, 700, stratum_a=0)
    assert rate.interval(None).low == pytest.approx(0.884, abs=1e-3)
    at = rate.interval(Prevalence(0.01))
    assert at.value == 1.0 and at.low < 0.2
    assert rate.p_value("at_least", 0.5, Prevalence(0.01)) > 0.05  # precision >= 0.5: not shown


def test_mover_share_interval_covers():
    # share of traffic a tier takes at 2% prevalence: 80% of violating, 10% of other items
    rng = np.random.default_rng(7)
    w = Prevalence(0.02)
    truth = 0.02 * 0.8 + 0.98 * 0.1
    covered = 0
    for _ in range(1000):
        k = (int((rng.random(200) < 0.8).sum()), int((rng.random(400) < 0.1).sum()))
        iv = weighted_share(k, (200, 400), w)
        covered += iv.low <= truth <= iv.high
    assert covered >= 930, covered


def test_production_rates_in_metrics_match_their_stated_prevalence():
    rows = [Decision(item_id=f"v{i}", policy="p", decider="c", decider_kind="classic",
                     outcome="ok", gold="hate", label="hate" if i < 270 else "none")
            for i in range(300)]
    rows += [Decision(item_id=f"o{i}", policy="p", decider="c", decider_kind="classic",
                      outcome="ok", gold="none", label="hate" if i < 35 else "none")
             for i in range(700)]
    from evalharness.records.targets import PolicyPrevalence

    metrics = build_metrics("r", rows, {"p": ["hate", "none"]}, violating={"p": ["hate"]},
                            prevalence={"p": PolicyPrevalence(overall=0.01)})
    prod = metrics.results[0].production
    assert prod is not None and prod.prevalence == 0.01
    # precision 0.01*0.9 / (0.01*0.9 + 0.99*0.05) = 0.1538; recall unchanged at 0.9
    assert prod.violating_precision.value == pytest.approx(0.009 / (0.009 + 0.99 * 0.05))
    assert prod.violating_recall.value == pytest.approx(0.9)
    assert prod.accuracy.value == pytest.approx(0.01 * 0.9 + 0.99 * 0.95)
    assert metrics.results[0].precision["hate"].value == pytest.approx(270 / 305)


@pytest.mark.parametrize("module", ["evalharness.stats.binomial", "evalharness.stats.strata",
                                    "evalharness.stats.paired", "evalharness.stats.power",
                                    "evalharness.stats.multiplicity", "evalharness.scoring.production",
                                    "evalharness.routing.goals"])
def test_docstring_examples_hold(module):
    failures, attempted = doctest.testmod(importlib.import_module(module))
    assert attempted >= 1 and failures == 0


def test_stratified_bootstrap_gives_the_same_resamples_in_every_process():
    # strata used to be drawn in set order, which follows Python's per-process string hashing
    code = ("import numpy as np; from evalharness.stats.sampling import Design; "
            "d = Design.of(list('abcabcab'), {'a': 0.2, 'b': 0.3, 'c': 0.5}); "
            "print(d.resampled_totals(np.array([1, 0, 1, 1, 0, 0, 1, 1], bool), n_resamples=5)[0])")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1
