"""Percentile bootstrap intervals over items, resampled by ``scipy.stats.bootstrap``.

Items are resampled jointly (``paired=True``: row ``i`` of every array is item ``i``) and the
statistic is vectorised (it gets arrays of shape ``(batch, n)`` and reduces the last axis), so a
thousand resamples cost a few array operations. Two things are added to scipy's percentile
method, each for a stated reason:

* resamples in which the statistic is undefined (nan: an F1 of a label absent from the resample,
  an AUC of one class) are dropped before the percentiles are read, because scipy's bounds would
  propagate the nan;
* one item resamples to itself (scipy needs two observations).

Batches hold at most :data:`BATCH_CELLS` resampled values, which bounds memory on large sets.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["BATCH_CELLS", "bootstrap_distribution", "bootstrap_interval", "percentile_bounds",
           "resample_weights"]

BATCH_CELLS = 2_000_000
"""Resampled values per batch (resamples x items)."""

Statistic = Callable[..., NDArray[np.float64]]
"""``statistic(*resampled_arrays, axis=-1)``: the value per resample (shape ``(batch,)``), or
several values (shape ``(k, batch)``)."""


def bootstrap_distribution(statistic: Statistic, *arrays: ArrayLike, n_resamples: int = 1000,
                           seed: int | None = 0) -> NDArray[np.float64]:
    """The statistic on ``n_resamples`` resamples of the items: shape ``(..., n_resamples)``.

    ``scipy.stats.bootstrap(arrays, statistic, paired=True, vectorized=True)`` with
    ``rng=numpy.random.default_rng(seed)``: the same seed and inputs give the same resamples.
    """
    data = tuple(np.asarray(a) for a in arrays)
    n = data[0].shape[0]
    if any(a.shape[0] != n for a in data):
        raise ValueError(f"the arrays must have one row per item, got lengths {[len(a) for a in data]}")
    if n == 0:
        raise ValueError("no items to resample")
    if n == 1:
        one = np.asarray(statistic(*(a[None, :] for a in data), axis=-1), dtype=np.float64)
        return np.repeat(one, n_resamples, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nan resamples: handled by percentile_bounds
        result = stats.bootstrap(data, statistic, paired=True, vectorized=True,
                                 n_resamples=n_resamples, batch=max(1, BATCH_CELLS // n),
                                 method="percentile", rng=np.random.default_rng(seed))
    return np.asarray(result.bootstrap_distribution, dtype=np.float64)


def percentile_bounds(distribution: ArrayLike, confidence: float = 0.95
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ``(1 - c)/2`` and ``(1 + c)/2`` percentiles (linear interpolation) along the last
    axis, nan resamples dropped; nan where every resample is nan."""
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-nan row: nan, as documented
        low, high = np.nanpercentile(np.asarray(distribution, dtype=np.float64),
                                     [100 * tail, 100 * (1 - tail)], axis=-1)
    return low, high


def bootstrap_interval(statistic: Statistic, *arrays: ArrayLike, n_resamples: int = 1000,
                       confidence: float = 0.95, seed: int | None = 0) -> tuple[float, float]:
    """Percentile interval of a one-valued statistic; ``(nan, nan)`` with no items or when it is
    undefined in every resample.

    Examples
    --------
    >>> bootstrap_interval(lambda x, axis: x.mean(axis=axis), [1.0, 1.0, 1.0], n_resamples=50)
    (1.0, 1.0)
    """
    if len(arrays[0]) == 0:  # type: ignore[arg-type]
        return (math.nan, math.nan)
    low, high = percentile_bounds(bootstrap_distribution(statistic, *arrays,
                                                         n_resamples=n_resamples, seed=seed),
                                  confidence)
    return float(low), float(high)


def resample_weights(idx: NDArray[np.intp], n: int) -> NDArray[np.float64]:
    """How often each of ``n`` items is drawn in each resample (shape ``(batch, n)``), from the
    resampled item indices; a statistic that is a weighted sum over items then evaluates every
    resample with one matrix product."""
    rows = idx.reshape(-1, idx.shape[-1])
    cells = rows + n * np.arange(rows.shape[0])[:, None]
    counts = np.bincount(cells.ravel(), minlength=rows.shape[0] * n)
    return counts.reshape(rows.shape[0], n).astype(np.float64)
