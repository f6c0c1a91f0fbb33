"""Agreement among raters: Krippendorff's alpha for nominal data (the ``krippendorff`` package)
and its bootstrap interval over items.

Items may have any number of ratings and raters need not be identified: nominal alpha depends
only on each item's counts per category (``krippendorff.alpha(value_counts=...)``). Items with
fewer than two ratings are not pairable and are left out, as in Krippendorff's definition.

The interval is own code, for a reason: it evaluates alpha for every resample at once from
resample weights (the package computes one table a call; ``bench/bootstrap.py`` measures the
difference); the tests compare it with the package resample by resample.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import krippendorff
import numpy as np
from numpy.typing import NDArray

from .bootstrap import bootstrap_distribution, percentile_bounds, resample_weights

__all__ = ["alpha_bootstrap", "krippendorff_alpha", "value_counts"]


def value_counts(units: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
    """Items x categories: how many ratings of each category every pairable item got (the
    categories in sorted order of their ``repr``)."""
    pairable = [u for u in units if len(u) >= 2]
    categories = sorted({v for u in pairable for v in u}, key=repr)
    index = {c: i for i, c in enumerate(categories)}
    counts = np.zeros((len(pairable), len(categories)))
    for row, unit in enumerate(pairable):
        for v in unit:
            counts[row, index[v]] += 1
    return counts


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Nominal alpha of the labels each item got; None when undefined (no item with two ratings,
    or a single category among them: the data then say nothing about reliability).

    Units (a, a), (b, b), (a, b): alpha = 1 - D_o / D_e = 8/18.

    >>> round(krippendorff_alpha([["a", "a"], ["b", "b"], ["a", "b"]]), 4)
    0.4444
    """
    counts = value_counts(units)
    if counts.shape[0] == 0 or counts.shape[1] < 2:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        value = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    return None if math.isnan(value) else float(value)


def _alpha_of_weights(w: NDArray[np.float64], counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Nominal alpha per row of unit weights: ``n_c`` weighted category totals, ``n`` their sum,
    ``o_cc`` weighted within-unit agreement, ``alpha = ((n - 1) sum_c o_cc - sum_c n_c (n_c - 1))
    / (n (n - 1) - sum_c n_c (n_c - 1))``."""
    per_unit = counts.sum(axis=1)
    agree = (counts * (counts - 1)).sum(axis=1) / (per_unit - 1)
    n_c = w @ counts
    n = n_c.sum(axis=1)
    same = (n_c * (n_c - 1)).sum(axis=1)
    den = n * (n - 1) - same
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ((n - 1) * (w @ agree) - same) / np.where(den > 0, den, 1.0)
    return np.where(den > 0, out, np.nan)


def alpha_bootstrap(units: Sequence[Sequence[Hashable]], *, n_resamples: int = 1000,
                    seed: int | None = 0, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of nominal alpha, resampling the pairable items; resamples where
    alpha is undefined (one category) are dropped; ``(nan, nan)`` when none is left."""
    counts = value_counts(units)
    n = counts.shape[0]
    if n == 0:
        return (math.nan, math.nan)

    def statistic(idx: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        return _alpha_of_weights(resample_weights(idx, n), counts).reshape(idx.shape[:-1])

    low, high = percentile_bounds(bootstrap_distribution(statistic, np.arange(n),
                                                         n_resamples=n_resamples, seed=seed),
                                  confidence)
    return float(low), float(high)
