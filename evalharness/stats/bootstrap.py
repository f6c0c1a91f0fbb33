"""Vectorized percentile bootstraps for ranking, calibration and rater agreement.

:func:`evalharness.metrics.bootstrap_interval` calls a Python statistic once per resample, which
is too slow for ROC AUC, average precision and ECE on every decider x slice row, or for
Krippendorff's alpha per label. The functions here draw the *same* resamples (same generator, same
blocks, same seed) and evaluate the statistic for all of them at once, as resample weights (how
often each item was drawn). Their intervals equal ``bootstrap_interval(metric, ...)`` with the
``metrics.py`` function; ``tests/test_scorecard.py`` checks that.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["alpha_bootstrap", "score_bootstrap"]

Bounds = tuple[float, float]


def _weights(n: int, n_resamples: int, seed: int | None) -> Iterator[NDArray[np.float64]]:
    """Blocks of resample weights (resamples x items): how often each item was drawn.

    Draws exactly the indices ``metrics.bootstrap_interval`` draws for the same seed.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, 2_000_000 // max(n, 1))
    done = 0
    while done < n_resamples:
        r = min(rows, n_resamples - done)
        idx = rng.integers(0, n, size=(r, n))
        cells = idx + n * np.arange(r)[:, None]
        yield np.bincount(cells.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
        done += r


def _percentiles(values: NDArray[np.float64], confidence: float = 0.95) -> Bounds:
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return (math.nan, math.nan)
    a = (1 - confidence) / 2
    low, high = np.percentile(kept, [100 * a, 100 * (1 - a)])
    return (float(low), float(high))


def _curves(w: NDArray[np.float64], y: NDArray[np.bool_], s: NDArray[np.float64]
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted cumulative (tps, fps) per resample at each distinct score, highest first."""
    order = np.argsort(s, kind="mergesort")[::-1]
    s_sorted = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    ws = w[:, order]
    pos = np.add.reduceat(ws * y[order], starts, axis=1)
    neg = np.add.reduceat(ws * ~y[order], starts, axis=1)
    return np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)


def _auc(tps: NDArray[np.float64], fps: NDArray[np.float64]) -> NDArray[np.float64]:
    P, N = tps[:, -1:], fps[:, -1:]
    ok = (P[:, 0] > 0) & (N[:, 0] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.c_[np.zeros(len(tps)), tps / P]
        fpr = np.c_[np.zeros(len(fps)), fps / N]
        area = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
    return np.where(ok, area, np.nan)


def _ap(tps: NDArray[np.float64], fps: NDArray[np.float64]) -> NDArray[np.float64]:
    P, N = tps[:, -1:], fps[:, -1:]
    ok = (P[:, 0] > 0) & (N[:, 0] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / (tps + fps), 0.0)
        recall = tps / P
        step = np.diff(np.c_[np.zeros(len(tps)), recall], axis=1)
        ap = np.sum(np.where(step > 0, step * precision, 0.0), axis=1)
    return np.where(ok, np.maximum(ap, 0.0), np.nan)


def _bins(p: NDArray[np.float64], n_bins: int) -> NDArray[np.intp]:
    """Bin of each probability, as ``metrics.reliability_bins`` assigns them."""
    edges = np.arange(int(n_bins) + 1) / int(n_bins)
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, int(n_bins) - 1)


def score_bootstrap(
    y_true_binary: Sequence[bool], scores: Sequence[float], *, n_bins: int = 10,
    n_resamples: int = 1000, seed: int | None = 0, confidence: float = 0.95,
) -> dict[str, Bounds]:
    """Bootstrap intervals of ROC AUC, average precision and ECE from one set of resamples.

    Parameters
    ----------
    y_true_binary : sequence of bool
        True where gold is violating.
    scores : sequence of float in [0, 1]
        P(violating) per item.
    n_bins : int, default 10
        Bins for the expected calibration error.
    n_resamples, seed, confidence
        As in :func:`evalharness.metrics.bootstrap_interval`.

    Returns
    -------
    dict
        ``{"roc_auc": (low, high), "average_precision": (low, high), "ece": (low, high)}``, each
        equal to ``metrics.bootstrap_interval(metrics.<metric>, y, s, seed=seed, ...)``.
        Resamples with a single class are dropped for AUC and AP; ``(nan, nan)`` when none is
        left or there are no items.
    """
    y = np.asarray(y_true_binary, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n = y.size
    if n == 0:
        return {k: (math.nan, math.nan) for k in ("roc_auc", "average_precision", "ece")}
    onehot = np.zeros((n, int(n_bins)))
    onehot[np.arange(n), _bins(s, n_bins)] = 1.0
    auc, ap, ece = [], [], []
    for w in _weights(n, n_resamples, seed):
        tps, fps = _curves(w, y, s)
        auc.append(_auc(tps, fps))
        ap.append(_ap(tps, fps))
        gap = np.abs(w @ (onehot * y[:, None]) - w @ (onehot * s[:, None]))
        ece.append(gap.sum(axis=1) / n)
    return {
        "roc_auc": _percentiles(np.concatenate(auc), confidence),
        "average_precision": _percentiles(np.concatenate(ap), confidence),
        "ece": _percentiles(np.concatenate(ece), confidence),
    }


def _alpha_of_weights(w: NDArray[np.float64], counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Krippendorff's nominal alpha of units ``counts`` (units x categories) per row of weights.

    The coincidence-matrix formula of ``metrics.krippendorff_alpha_nominal`` over unit weights:
    ``n_c`` weighted category totals, ``n`` their sum, ``o_cc`` weighted within-unit agreement,
    ``alpha = ((n - 1) sum_c o_cc - sum_c n_c (n_c - 1)) / (n (n - 1) - sum_c n_c (n_c - 1))``.
    """
    per_unit = counts.sum(axis=1)
    agree = (counts * (counts - 1)).sum(axis=1) / (per_unit - 1)
    n_c = w @ counts
    n = n_c.sum(axis=1)
    same = (n_c * (n_c - 1)).sum(axis=1)
    den = n * (n - 1) - same
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ((n - 1) * (w @ agree) - same) / np.where(den > 0, den, 1.0)
    return np.where(den > 0, out, np.nan)


def alpha_bootstrap(
    units: Sequence[Sequence[Hashable]], *, n_resamples: int = 1000, seed: int | None = 0,
    confidence: float = 0.95,
) -> Bounds:
    """Bootstrap interval of Krippendorff's nominal alpha, resampling items.

    ``units`` must all be pairable (two or more ratings each). Equal to
    ``metrics.bootstrap_interval(lambda u: krippendorff_alpha_nominal(u), units_as_array)``;
    resamples where alpha is undefined (one category only) are dropped.
    """
    if not units:
        return (math.nan, math.nan)
    categories = sorted({v for u in units for v in u}, key=repr)
    index = {c: i for i, c in enumerate(categories)}
    counts = np.zeros((len(units), len(categories)))
    for row, unit in enumerate(units):
        for v in unit:
            counts[row, index[v]] += 1
    values = [_alpha_of_weights(w, counts) for w in _weights(len(units), n_resamples, seed)]
    return _percentiles(np.concatenate(values), confidence)
