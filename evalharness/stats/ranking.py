"""How well P(violating) ranks and is calibrated: ROC AUC and average precision
(scikit-learn), reliability bins and the expected calibration error, and their bootstrap
intervals.

Own code, each for a reason: scikit-learn has no expected calibration error, and its
``calibration_curve`` drops empty bins and returns no counts (a reliability table needs every
bin, its n and an interval); the intervals evaluate AUC, AP and ECE for every resample at once
from resample weights (scikit-learn scores one sample per call; ``bench/bootstrap.py`` measures
the difference), and the tests compare them with scikit-learn resample by resample.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

from .binomial import wilson
from .bootstrap import percentile_bounds
from .poisson import weighted_counts

__all__ = ["SCORE_LEVELS", "SCORE_METRICS", "average_precision", "expected_calibration_error", "reliability_bins", "roc_auc",
           "score_bootstrap", "score_bounds", "score_codes", "score_width"]

Bounds = tuple[float, float]
SCORE_LEVELS = 1000
"""Levels of the score grid the AUC and AP resamples rank on."""


def _both_classes(y: NDArray[np.bool_]) -> bool:
    return bool(y.any() and not y.all())


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float | None:
    """``sklearn.metrics.roc_auc_score``; None with one class only (or no items).

    >>> roc_auc([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4])
    0.875
    """
    y = np.asarray(y_true, dtype=bool)
    return float(roc_auc_score(y, np.asarray(scores, dtype=np.float64))) if _both_classes(y) else None


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float | None:
    """``sklearn.metrics.average_precision_score``; None with one class only (or no items).

    >>> round(average_precision([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4]), 6)
    0.833333
    """
    y = np.asarray(y_true, dtype=bool)
    if not _both_classes(y):
        return None
    return float(average_precision_score(y, np.asarray(scores, dtype=np.float64)))


def _bins(probs: NDArray[np.float64], n_bins: int) -> NDArray[np.intp]:
    """Bin ``b`` holds ``b/n <= p < (b+1)/n`` (1.0 in the last bin). The edges are ``b / n``
    correctly rounded, so 0.3 is the low edge of bin 3 of 10 (``linspace`` would put it in
    bin 2)."""
    edges = np.arange(n_bins + 1) / n_bins
    return np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, n_bins - 1)


def reliability_bins(y_true: ArrayLike, probs: ArrayLike, *, n_bins: int = 10) -> list[dict[str, Any]]:
    """Every equal-width bin of predicted probability: ``low``, ``high``, ``n``, ``positives``,
    ``mean_confidence``, ``observed_rate`` and its 95% Wilson interval ``ci_low``/``ci_high``
    (an empty bin: rates None, interval (0, 1)).

    >>> bins = reliability_bins([0, 1, 1, 1], [0.1, 0.7, 0.9, 1.0], n_bins=2)
    >>> [(b["low"], b["high"], b["n"], b["observed_rate"]) for b in bins]
    [(0.0, 0.5, 1, 0.0), (0.5, 1.0, 3, 1.0)]
    """
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(probs, dtype=np.float64)
    which = _bins(p, n_bins)
    out = []
    for b in range(n_bins):
        mask = which == b
        n, positives = int(mask.sum()), int(y[mask].sum())
        low, high = wilson(positives, n) or (0.0, 1.0)
        out.append({"low": b / n_bins, "high": (b + 1) / n_bins, "n": n, "positives": positives,
                    "mean_confidence": float(p[mask].mean()) if n else None,
                    "observed_rate": positives / n if n else None,
                    "ci_low": low, "ci_high": high})
    return out


def expected_calibration_error(y_true: ArrayLike, probs: ArrayLike, *, n_bins: int = 10) -> float | None:
    """``sum_b (n_b / N) |observed_b - mean_confidence_b|`` over non-empty bins; None for no
    items (0 would read as perfect calibration).

    One item (p=0.1, negative) in [0, .5): gap 0.1; three (mean 0.8667, all positive) in
    [.5, 1]: gap 0.1333; ECE = 1/4 * 0.1 + 3/4 * 0.1333:

    >>> round(expected_calibration_error([0, 1, 1, 1], [0.1, 0.7, 0.9, 1.0], n_bins=2), 6)
    0.125
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.size == 0:
        return None
    which = _bins(p, n_bins)
    n = np.bincount(which, minlength=n_bins)
    gap = np.abs(np.bincount(which, weights=y, minlength=n_bins)
                 - np.bincount(which, weights=p, minlength=n_bins))
    used = n > 0
    return float(np.sum(n[used] / y.size * (gap[used] / n[used])))


def _auc_ap(pos: NDArray[np.float64], neg: NDArray[np.float64]
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per resample (row), ROC AUC and average precision from the positives and negatives at
    each score level, highest level first: scikit-learn's curves, where a level's ties are one
    step. AUC is the trapezoid sum ``sum_k neg_k (tps_(k-1) + tps_k) / 2 / (P N)``; AP is
    ``sum_k pos_k / P * precision_k``."""
    tps, fps = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    p, n = tps[:, -1], fps[:, -1]
    ok = (p > 0) & (n > 0)
    called = tps + fps
    precision = np.divide(tps, called, out=np.zeros(tps.shape), where=called > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.einsum("ij,ij->i", neg, tps - pos / 2) / (p * n)
        ap = np.einsum("ij,ij->i", pos, precision) / p
    return np.where(ok, auc, np.nan), np.where(ok, ap, np.nan)


def score_bootstrap(y_true: Sequence[bool], scores: Sequence[float], weights: NDArray[np.uint8],
                    rows: ArrayLike, *, n_bins: int = 10, confidence: float = 0.95
                    ) -> dict[str, Bounds]:
    """Percentile intervals of ROC AUC, average precision and ECE over Poisson bootstrap
    resamples: item ``i``'s weight in resample ``b`` is ``weights[rows[i], b]``
    (:mod:`evalharness.stats.poisson`).

    Each resample's AUC and AP are scikit-learn's with ``sample_weight`` set to its weights, on
    the scores rounded down to a grid of :data:`SCORE_LEVELS` levels (``k / 1000``): items
    closer than that tie. The grid turns a resample's ranking into a histogram of positives
    and negatives per level (:func:`score_codes`), so every resample costs one sparse product
    and shards' histograms add up; the point estimates (:func:`roc_auc`,
    :func:`average_precision`) use the exact scores. Resamples with one class are dropped for
    AUC and AP; ``(nan, nan)`` when none is left."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.size == 0:
        return {k: (np.nan, np.nan) for k in SCORE_METRICS}
    codes, values = score_codes(y, s, n_bins)
    sums = weighted_counts(weights, rows, codes, score_width(n_bins), values)
    return score_bounds(sums, codes, n_bins, confidence)


SCORE_METRICS = ("roc_auc", "average_precision", "ece")
_BLOCK = 32
"""Resamples :func:`score_bounds` works on at once."""


def score_width(n_bins: int) -> int:
    """Columns of a score histogram (:func:`score_codes`)."""
    return 2 * SCORE_LEVELS + n_bins


def score_codes(y: NDArray[np.bool_], s: NDArray[np.float64], n_bins: int
                ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Each item's two histogram columns and values: (score level, class) with 1, and its
    calibration bin with its score; summed over a resample's weights
    (:func:`~evalharness.stats.poisson.weighted_counts`) they give :func:`score_bounds` all it
    needs. A calibration bin is a run of levels (``b / n_bins`` and ``(1000 b / n_bins) / 1000``
    are the same double), so its counts are the levels' counts summed."""
    if SCORE_LEVELS % n_bins:
        raise ValueError(f"{n_bins} calibration bins do not divide {SCORE_LEVELS} score levels")
    codes = np.stack([_bins(s, SCORE_LEVELS) * 2 + y, 2 * SCORE_LEVELS + _bins(s, n_bins)], axis=1)
    return codes, np.stack([np.ones_like(s), s], axis=1)


def score_bounds(sums: NDArray[np.float64], codes: NDArray[np.intp], n_bins: int,
                 confidence: float = 0.95) -> dict[str, Bounds]:
    """AUC, AP and ECE intervals from per-resample histogram sums (shape ``(resamples,
    score_width(n_bins))``) of the items with ``codes``."""
    g = SCORE_LEVELS
    # levels these items use, highest first
    present = np.flatnonzero(np.bincount(codes[:, 0] // 2, minlength=g))[::-1]
    out = np.empty((3, len(sums)))
    for start in range(0, len(sums), _BLOCK):  # a block of resamples at a time: each row's
        block = sums[start:start + _BLOCK]  # arithmetic is the same, and fits in the cache
        levels = block[:, :2 * g].reshape(len(block), g, 2)  # [resample, level, neg/pos]
        per_bin = levels.reshape(len(block), n_bins, g // n_bins, 2).sum(axis=2)
        conf = block[:, 2 * g:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            auc, ap = _auc_ap(levels[:, present, 1], levels[:, present, 0])
            ece = np.abs(per_bin[:, :, 1] - conf).sum(axis=1) / per_bin.sum(axis=(1, 2))
        out[:, start:start + _BLOCK] = auc, ap, ece
    low, high = percentile_bounds(out, confidence)
    return {k: (float(low[i]), float(high[i])) for i, k in enumerate(SCORE_METRICS)}
