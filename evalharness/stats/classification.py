"""Confusion matrices and Cohen's kappa of gold against decisions (scikit-learn).

Nothing is dropped: a prediction is a label or a non-ok outcome (``invalid``, ``refusal``,
``error``, :data:`~evalharness.records.kinds.OUTCOMES_NOT_OK`). Outcomes are the confusion
matrix's last columns and categories gold never uses, so they count as wrong for accuracy and
recall and never as a prediction of a label for precision.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from ..records.kinds import OUTCOMES_NOT_OK
from .coded import encode

__all__ = ["coded_confusion_matrix", "coded_kappa", "cohen_kappa", "confusion_matrix"]


def _check(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length ({len(y_true)} and {len(y_pred)})")
    bad = sorted({str(v) for v in y_true} - set(labels))
    if bad:
        raise ValueError(f"gold values {bad} are not labels {list(labels)}")
    bad = sorted({str(v) for v in y_pred} - set(labels) - set(OUTCOMES_NOT_OK))
    if bad:
        raise ValueError(f"predictions {bad} are neither labels {list(labels)} nor outcomes "
                         f"{list(OUTCOMES_NOT_OK)}")


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], *,
                     labels: Sequence[str]) -> NDArray[np.int64]:
    """``C[i, j]``: items with gold ``labels[i]`` decided ``labels[j]``; the last three columns
    count the outcomes ``invalid``, ``refusal``, ``error``. Shape ``(L, L + 3)``; all zeros for
    no items. ``sklearn.metrics.confusion_matrix`` over labels and outcomes, outcome rows cut.

    Examples
    --------
    >>> confusion_matrix(["spam", "spam", "ok", "ok"], ["spam", "refusal", "ok", "spam"],
    ...                  labels=["ok", "spam"]).tolist()
    [[1, 1, 0, 0, 0], [0, 1, 0, 1, 0]]
    """
    _check(y_true, y_pred, labels)
    return coded_confusion_matrix(encode(y_true, labels), encode(y_pred, labels), len(labels))


def coded_confusion_matrix(gold: NDArray[np.intp], pred: NDArray[np.intp], n_labels: int
                           ) -> NDArray[np.int64]:
    """:func:`confusion_matrix` of integer codes (:func:`~evalharness.stats.coded.encode`)."""
    n_codes = n_labels + len(OUTCOMES_NOT_OK)
    if len(gold) == 0:
        return np.zeros((n_labels, n_codes), dtype=np.int64)
    full = sklearn_confusion_matrix(gold, pred, labels=np.arange(n_codes))
    return full[:n_labels].astype(np.int64)


def cohen_kappa(y_true: Sequence[str], y_pred: Sequence[str], *,
                labels: Sequence[str]) -> float | None:
    """Cohen's kappa of gold and decisions, outcomes as categories gold never uses
    (``sklearn.metrics.cohen_kappa_score``); None when undefined (no items, or both sides use one
    and the same single category).

    Examples
    --------
    p_o = 3/4, p_e = (2*2 + 2*1)/16, so kappa = (3/4 - 3/8) / (1 - 3/8) = 0.6:

    >>> round(cohen_kappa(["ok", "ok", "spam", "spam"], ["ok", "ok", "spam", "error"],
    ...                   labels=["ok", "spam"]), 12)
    0.6
    """
    _check(y_true, y_pred, labels)
    return coded_kappa(encode(y_true, labels), encode(y_pred, labels), len(labels))


def coded_kappa(gold: NDArray[np.intp], pred: NDArray[np.intp], n_labels: int) -> float | None:
    """:func:`cohen_kappa` of integer codes."""
    if len(gold) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        value = cohen_kappa_score(gold, pred, labels=np.arange(n_labels + len(OUTCOMES_NOT_OK)),
                                  replace_undefined_by=math.nan)
    return None if math.isnan(value) else float(value)
