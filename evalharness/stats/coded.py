"""Rates of integer-coded decisions, vectorised over bootstrap resamples.

Codes: gold is ``0..L-1`` (the policy labels in order); a prediction is a label code or ``L + j``
for the j-th non-ok outcome of :data:`~evalharness.records.kinds.OUTCOMES_NOT_OK` (invalid,
refusal, error), so a non-ok outcome is wrong for accuracy and recall and never a prediction of a
label. Each statistic takes ``(gold, pred)`` arrays of shape ``(..., n)`` and reduces the last
axis, as ``scipy.stats.bootstrap`` calls a vectorised statistic; a zero denominator gives nan.

Own code, because scikit-learn scores one sample per call (a thousand Python calls per interval);
these are the counts sklearn's definitions use, and the tests compare them with sklearn resample
by resample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..records.kinds import OUTCOMES_NOT_OK

__all__ = ["CodedStatistic", "RATE_METRICS", "encode", "kappa", "point", "rate_statistic"]

CodedStatistic = Callable[..., NDArray[np.float64]]
"""``statistic(gold, pred, axis=-1)``."""

RATE_METRICS = ("accuracy", "cohen_kappa", "coverage", "invalid_rate")
"""Metrics of all items; ``precision``, ``recall`` and ``f1`` are per label."""


def encode(values: Sequence[str], labels: Sequence[str]) -> NDArray[np.intp]:
    """Codes of labels and outcome names (``ValueError`` naming a value that is neither)."""
    index = {v: i for i, v in enumerate((*labels, *OUTCOMES_NOT_OK))}
    try:
        return np.fromiter((index[v] for v in values), dtype=np.intp, count=len(values))
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is neither a label of {list(labels)} nor an outcome "
                         f"{list(OUTCOMES_NOT_OK)}") from None


def _ratio(num: NDArray[np.int64], den: NDArray[np.int64]) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def kappa(gold: NDArray[np.intp], pred: NDArray[np.intp], n_codes: int,
          axis: int = -1) -> NDArray[np.float64]:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` per row; nan where ``p_e == 1`` or no items."""
    gold, pred = np.moveaxis(gold, axis, -1), np.moveaxis(pred, axis, -1)
    rows = gold.reshape(-1, gold.shape[-1])
    n = rows.shape[1]
    if n == 0:
        return np.full(gold.shape[:-1], np.nan)
    cells = rows * n_codes + pred.reshape(rows.shape)
    cells += (n_codes * n_codes) * np.arange(rows.shape[0])[:, None]
    cm = np.bincount(cells.ravel(), minlength=rows.shape[0] * n_codes * n_codes)
    cm = cm.reshape(rows.shape[0], n_codes, n_codes)
    observed = np.trace(cm, axis1=1, axis2=2) / n
    expected = (cm.sum(axis=2) * cm.sum(axis=1)).sum(axis=1) / (n * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(expected < 1.0, (observed - expected) / (1 - expected), np.nan)
    return out.reshape(gold.shape[:-1])


def rate_statistic(metric: str, label: int | None, n_labels: int) -> CodedStatistic:
    """The vectorised statistic of ``metric`` (of label code ``label`` for precision, recall
    and F1)."""
    invalid = n_labels + OUTCOMES_NOT_OK.index("invalid")
    n_codes = n_labels + len(OUTCOMES_NOT_OK)

    def count(mask: NDArray[np.bool_], axis: int) -> NDArray[np.int64]:
        return np.count_nonzero(mask, axis=axis)

    def of_all(hit: Callable[[NDArray[np.intp], NDArray[np.intp]], NDArray[np.bool_]]
               ) -> CodedStatistic:
        def statistic(t: NDArray[np.intp], p: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
            hits = count(hit(t, p), axis)
            return _ratio(hits, np.full_like(hits, t.shape[axis]))
        return statistic

    if metric == "accuracy":
        return of_all(lambda t, p: t == p)
    if metric == "coverage":
        return of_all(lambda t, p: p < n_labels)
    if metric == "invalid_rate":
        return of_all(lambda t, p: p == invalid)
    if metric == "cohen_kappa":
        return lambda t, p, axis=-1: kappa(t, p, n_codes, axis)
    if label is None or metric not in ("precision", "recall", "f1"):
        raise ValueError(f"unknown metric {metric!r} (or no label for it)")
    j = label

    def per_label(t: NDArray[np.intp], p: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        said, gold = p == j, t == j
        tp = count(said & gold, axis)
        if metric == "precision":
            return _ratio(tp, count(said, axis))
        if metric == "recall":
            return _ratio(tp, count(gold, axis))
        return _ratio(2 * tp, count(said, axis) + count(gold, axis))
    return per_label


def point(statistic: CodedStatistic, gold: ArrayLike, pred: ArrayLike) -> float:
    """The statistic on the items themselves (nan when undefined)."""
    return float(statistic(np.asarray(gold)[None, :], np.asarray(pred)[None, :], axis=-1)[0])
