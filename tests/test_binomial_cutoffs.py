"""Bound cutoffs and the fast bound checks against scipy's exact binomial test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalharness.stats.binomial import (
    lower_bound_cutoffs,
    lower_bound_meets,
    upper_bound_cutoffs,
    upper_bound_meets,
)


def _low(k: int, n: int, level: float) -> float:
    return stats.binomtest(k, n, alternative="greater").proportion_ci(level).low


def _high(k: int, n: int, level: float) -> float:
    return stats.binomtest(k, n, alternative="less").proportion_ci(level).high


@pytest.mark.parametrize("level, target", [(0.95, 0.8), (0.9977, 0.9), (0.999, 0.05), (0.9, 0.5)])
def test_cutoffs_decide_as_the_exact_test(level, target):
    n = np.arange(1, 61)
    low_cut, high_cut = lower_bound_cutoffs(n, level, target), upper_bound_cutoffs(n, level, target)
    for size, lc, hc in zip(n.tolist(), low_cut.tolist(), high_cut.tolist()):
        lows = [_low(k, size, level) for k in range(size + 1)]
        highs = [_high(k, size, level) for k in range(size + 1)]
        assert lc == next((k for k, b in enumerate(lows) if b >= target), size + 1)
        assert hc == max((k for k, b in enumerate(highs) if b <= target), default=-1)
        k = np.arange(size + 1)
        assert lower_bound_meets(k, size, level, target).tolist() == [b >= target for b in lows]
        assert upper_bound_meets(k, size, level, target).tolist() == [b <= target for b in highs]


def test_large_counts_where_betaincinv_goes_wrong():
    # scipy 1.17's betaincinv(9107, 1000, 6.0e-5) returns 0.7496; the exact bound is 0.8893
    level = 0.9999400411490037
    assert _low(9107, 10106, level) == pytest.approx(0.88927, abs=1e-5)
    assert lower_bound_meets([9107], [10106], level, 0.8).tolist() == [True]
    assert lower_bound_cutoffs([10106], level, 0.8)[0] <= 9107
