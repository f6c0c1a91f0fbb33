"""Pure metric functions over arrays of decisions.

Every function here is a pure function: no I/O, no global state, options by keyword only.
Array functions validate their inputs first with one shared helper (:func:`_check_targets`).

Conventions
-----------
* ``y_true`` (gold) is always one of ``labels``.
* ``y_pred`` is a label or one of the non-ok outcomes in :data:`OUTCOME_COLUMNS`
  (``"invalid"``, ``"refusal"``, ``"error"``). Nothing is dropped: a non-ok outcome is a wrong
  answer for accuracy and recall, and never counts as a prediction of any label for precision.
* ``labels`` fixes the order of rows and columns so results from different runs line up.

Degenerate input
----------------
No function crashes on empty or degenerate input, and none returns a silent NaN. Each emits an
:class:`UndefinedMetricWarning` and returns a documented value:

* rates with a conventional fallback (accuracy, precision, recall, F1) return ``zero_division``
  (default ``0.0``);
* statistics without one (kappa, alpha, AUC, average precision, ECE, bootstrap intervals) return
  ``nan``;
* intervals for a proportion with ``n == 0`` return the uninformative ``(0.0, 1.0)``;
* :func:`percentile` of nothing returns ``None``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "OUTCOME_COLUMNS",
    "UndefinedMetricWarning",
    "accuracy",
    "average_precision",
    "binomial_sample_size",
    "bootstrap_interval",
    "clopper_pearson_interval",
    "clopper_pearson_lower",
    "cohen_kappa",
    "confusion_matrix",
    "expected_calibration_error",
    "f1_interval",
    "krippendorff_alpha_nominal",
    "mcnemar_exact",
    "percentile",
    "precision_recall_f1",
    "reliability_bins",
    "roc_auc",
    "samples_to_confirm_at_least",
    "wilson_interval",
]

OUTCOME_COLUMNS: tuple[str, ...] = ("invalid", "refusal", "error")
"""Non-ok outcomes a prediction may take; the confusion-matrix columns after the labels.

Kept equal to ``evalharness.records.OUTCOMES_NOT_OK`` (this module imports nothing from the
package so it stays dependency-free; a test checks the two agree).
"""


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for the given input (for example a zero denominator or no data).

    The function that warns still returns the value its docstring documents for that case.
    """


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _warn(message: str, *, stacklevel: int = 3) -> None:
    warnings.warn(message, UndefinedMetricWarning, stacklevel=stacklevel)


def _show(values: Iterable[Any], limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f", ... ({len(values) - limit} more)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _as_1d(name: str, y: ArrayLike) -> NDArray[np.object_]:
    if isinstance(y, str):
        raise ValueError(f"{name} must be a 1-d sequence of values, got the single string {y!r}")
    arr = np.asarray(y, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got an array of shape {arr.shape}")
    return arr


def _check_labels(labels: Sequence[Hashable] | None) -> tuple[Hashable, ...]:
    if labels is None:
        raise ValueError("labels is required: pass the policy labels in a fixed order")
    if isinstance(labels, str):
        raise ValueError(f"labels must be a sequence of labels, got the single string {labels!r}")
    out = tuple(labels)
    if not out:
        raise ValueError("labels must not be empty")
    dupes = [lab for lab in dict.fromkeys(out) if out.count(lab) > 1]
    if dupes:
        raise ValueError(f"labels must be unique; repeated: {_show(dupes)}")
    clash = [lab for lab in out if lab in OUTCOME_COLUMNS]
    if clash:
        raise ValueError(
            f"labels must not include the outcome columns {list(OUTCOME_COLUMNS)}; "
            f"found {_show(clash)}"
        )
    return out


def _check_targets(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Hashable] | None
) -> tuple[NDArray[np.object_], NDArray[np.object_], tuple[Hashable, ...] | None]:
    """Validate gold and predictions; return them as 1-d object arrays plus the label tuple.

    Checks that both are 1-d and of equal length. With ``labels``, every gold value must be a
    label and every prediction a label or an outcome column; otherwise a ``ValueError`` names the
    bad values and lists the allowed ones. Without ``labels`` (``None``), only gold values equal
    to an outcome column are rejected.
    """
    t = _as_1d("y_true", y_true)
    p = _as_1d("y_pred", y_pred)
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}"
        )
    if labels is None:
        bad_gold = sorted({v for v in t.tolist() if v in OUTCOME_COLUMNS})
        if bad_gold:
            raise ValueError(
                f"y_true contains outcome values {bad_gold}; gold must be a policy label"
            )
        return t, p, None
    labs = _check_labels(labels)
    allowed = set(labs)
    bad_true = [v for v in dict.fromkeys(t.tolist()) if v not in allowed]
    if bad_true:
        raise ValueError(
            f"y_true contains {_show(bad_true)}, which are not in labels; "
            f"allowed gold values: {list(labs)}"
        )
    allowed.update(OUTCOME_COLUMNS)
    bad_pred = [v for v in dict.fromkeys(p.tolist()) if v not in allowed]
    if bad_pred:
        raise ValueError(
            f"y_pred contains {_show(bad_pred)}, which are neither labels nor outcomes; "
            f"allowed: labels {list(labs)} or outcomes {list(OUTCOME_COLUMNS)}"
        )
    return t, p, labs


def _encode(
    t: NDArray[np.object_], p: NDArray[np.object_], labels: tuple[Hashable, ...]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Integer codes: gold in ``0..L-1``, predictions in ``0..L+2`` (labels then outcomes)."""
    index = {v: i for i, v in enumerate((*labels, *OUTCOME_COLUMNS))}
    tc = np.fromiter((index[v] for v in t.tolist()), dtype=np.intp, count=t.shape[0])
    pc = np.fromiter((index[v] for v in p.tolist()), dtype=np.intp, count=p.shape[0])
    return tc, pc


def _check_binary(y_true: ArrayLike, scores: ArrayLike, scores_name: str) -> tuple[
    NDArray[np.bool_], NDArray[np.float64]
]:
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(
            f"y_true_binary and {scores_name} must be 1-d, got shapes {y.shape} and {s.shape}"
        )
    if y.shape[0] != s.shape[0]:
        raise ValueError(
            f"y_true_binary and {scores_name} must have the same length, "
            f"got {y.shape[0]} and {s.shape[0]}"
        )
    if y.dtype != np.bool_:
        if y.dtype.kind not in "iuf" and y.size:
            raise ValueError(
                f"y_true_binary must hold booleans or 0/1, got dtype {y.dtype}"
            )
        bad = sorted(set(np.unique(y).tolist()) - {0, 1})
        if bad:
            raise ValueError(f"y_true_binary must hold only 0/1 or booleans, found {_show(bad)}")
        y = y == 1
    if s.size and s.dtype.kind not in "iufb":
        raise ValueError(f"{scores_name} must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{scores_name} must be finite; found nan or inf")
    return y, s


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)


def _check_count(successes: int, n: int) -> tuple[int, int]:
    if int(n) != n or int(successes) != successes:
        raise ValueError(f"successes and n must be whole numbers, got {successes!r} and {n!r}")
    k, m = int(successes), int(n)
    if m < 0 or not 0 <= k <= m:
        raise ValueError(f"need 0 <= successes <= n, got successes={k}, n={m}")
    return k, m


# --------------------------------------------------------------------------------------------
# classification metrics
# --------------------------------------------------------------------------------------------


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, *, labels: Sequence[Hashable]
) -> NDArray[np.int64]:
    """Count gold/prediction pairs, with the non-ok outcomes as extra columns.

    Parameters
    ----------
    y_true : array-like of shape (n_items,)
        Gold labels; each must be in ``labels``.
    y_pred : array-like of shape (n_items,)
        Predictions; each is a label or one of :data:`OUTCOME_COLUMNS`.
    labels : sequence
        Policy labels in the order of rows and of the first columns.

    Returns
    -------
    numpy.ndarray of int, shape (len(labels), len(labels) + 3)
        ``C[i, j]`` counts items with gold ``labels[i]`` and prediction ``labels[j]``; the last
        three columns count predictions ``"invalid"``, ``"refusal"`` and ``"error"``. Non-ok
        outcomes therefore appear only in those columns and never on the diagonal. Empty input
        gives an all-zero matrix (counts are defined, so there is no warning).

    Raises
    ------
    ValueError
        If a gold value is not a label, or a prediction is neither a label nor an outcome; the
        message names the bad values and lists the allowed ones.

    See Also
    --------
    precision_recall_f1 : per-label rates read off this matrix.
    cohen_kappa : chance-corrected agreement from the same counts.

    Examples
    --------
    >>> confusion_matrix(["spam", "spam", "ok", "ok"], ["spam", "refusal", "ok", "spam"],
    ...                  labels=["ok", "spam"])
    array([[1, 1, 0, 0, 0],
           [0, 1, 0, 1, 0]])
    """
    t, p, labs = _check_targets(y_true, y_pred, labels)
    assert labs is not None
    n_rows, n_cols = len(labs), len(labs) + len(OUTCOME_COLUMNS)
    tc, pc = _encode(t, p, labs)
    counts = np.bincount(tc * n_cols + pc, minlength=n_rows * n_cols)
    return counts.reshape(n_rows, n_cols).astype(np.int64)


def accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: Sequence[Hashable] | None = None,
    zero_division: float = 0.0,
) -> float:
    """Share of items whose prediction equals the gold label.

    Parameters
    ----------
    y_true : array-like of shape (n_items,)
        Gold labels.
    y_pred : array-like of shape (n_items,)
        Predictions; non-ok outcomes (``"invalid"``, ``"refusal"``, ``"error"``) are kept and
        count as wrong answers.
    labels : sequence, optional
        When given, inputs are validated against it as in :func:`confusion_matrix`.
    zero_division : float, default 0.0
        Value returned for empty input, with an :class:`UndefinedMetricWarning`.

    Returns
    -------
    float
        Correct predictions divided by all items (same as ``sklearn.metrics.accuracy_score``).

    See Also
    --------
    wilson_interval : confidence interval for the same share.

    Examples
    --------
    Three of four correct; the refusal counts as wrong:

    >>> accuracy(["ok", "spam", "ok", "spam"], ["ok", "spam", "ok", "refusal"])
    0.75
    """
    t, p, _ = _check_targets(y_true, y_pred, labels)
    if t.shape[0] == 0:
        _warn(f"accuracy of no items is undefined; returning zero_division={zero_division}")
        return float(zero_division)
    return float(np.count_nonzero(t == p) / t.shape[0])


def precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: Sequence[Hashable],
    zero_division: float = 0.0,
) -> dict[Hashable, tuple[float, float, float]]:
    """Per-label precision, recall and F1.

    Parameters
    ----------
    y_true : array-like of shape (n_items,)
        Gold labels; each must be in ``labels``.
    y_pred : array-like of shape (n_items,)
        Predictions. A non-ok outcome is a miss (false negative) for the gold label and never a
        prediction of any label, so it lowers recall but never precision.
    labels : sequence
        Labels to report, in order.
    zero_division : float, default 0.0
        Value used when a denominator is zero: precision when the label is never predicted,
        recall when it never occurs in gold, F1 when both. Each such case also emits one
        :class:`UndefinedMetricWarning` per metric naming the labels.

    Returns
    -------
    dict
        ``{label: (precision, recall, f1)}`` in ``labels`` order. ``f1 = 2 TP / (2 TP + FP +
        FN)``, which equals sklearn's ``precision_recall_fscore_support(y_true, y_pred,
        labels=labels, zero_division=0)`` exactly.

    See Also
    --------
    confusion_matrix : the counts these rates come from.
    f1_interval : bootstrap interval for one label's F1.

    Examples
    --------
    ``spam``: TP=1, FP=1 (the ``ok`` item called spam), FN=1 (the refusal), so P = R = F1 = 0.5.
    ``ok``: TP=1, FP=0, FN=1, so P=1, R=0.5, F1=2/3.

    >>> res = precision_recall_f1(["spam", "spam", "ok", "ok"],
    ...                           ["spam", "refusal", "ok", "spam"], labels=["ok", "spam"])
    >>> res["spam"]
    (0.5, 0.5, 0.5)
    >>> [round(x, 4) for x in res["ok"]]
    [1.0, 0.5, 0.6667]
    """
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    labs = tuple(labels)
    n_lab = len(labs)
    tp = np.diag(cm[:, :n_lab]).astype(np.int64)
    pred_sum = cm[:, :n_lab].sum(axis=0)
    true_sum = cm.sum(axis=1)

    def divide(num: NDArray[Any], den: NDArray[Any], what: str, cause: str) -> NDArray[Any]:
        zero = den == 0
        out = num / np.where(zero, 1, den)
        if zero.any():
            out = np.where(zero, float(zero_division), out)
            _warn(
                f"{what} is undefined for labels {_show(np.asarray(labs, dtype=object)[zero])} "
                f"({cause}); set to zero_division={zero_division}",
                stacklevel=4,
            )
        return out

    precision = divide(tp, pred_sum, "precision", "never predicted")
    recall = divide(tp, true_sum, "recall", "no gold items")
    f1 = divide(2 * tp, true_sum + pred_sum, "F1", "neither predicted nor in gold")
    return {
        lab: (float(precision[i]), float(recall[i]), float(f1[i])) for i, lab in enumerate(labs)
    }


def cohen_kappa(y_true: ArrayLike, y_pred: ArrayLike, *, labels: Sequence[Hashable]) -> float:
    """Cohen's kappa between gold and predictions.

    Parameters
    ----------
    y_true : array-like of shape (n_items,)
        Gold labels (first rater).
    y_pred : array-like of shape (n_items,)
        Predictions (second rater). Non-ok outcomes are treated as extra categories that the
        gold rater never uses, so they always count as disagreement.
    labels : sequence
        Policy labels.

    Returns
    -------
    float
        ``(p_o - p_e) / (1 - p_e)``. Equals ``sklearn.metrics.cohen_kappa_score(y_true, y_pred,
        labels=labels + present outcome columns)``. If expected agreement is 1 (both sides use
        one and the same single category) or there are no items, kappa is undefined: returns
        ``nan`` with an :class:`UndefinedMetricWarning`.

    See Also
    --------
    krippendorff_alpha_nominal : agreement among many raters with missing ratings.

    Examples
    --------
    p_o = 3/4; marginals gold (2 ok, 2 spam), pred (2 ok, 1 spam, 1 error), so
    p_e = (2*2 + 2*1)/16 = 3/8 and kappa = (3/4 - 3/8)/(1 - 3/8) = 0.6.

    >>> round(cohen_kappa(["ok", "ok", "spam", "spam"], ["ok", "ok", "spam", "error"],
    ...                   labels=["ok", "spam"]), 12)
    0.6
    """
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    n_lab = cm.shape[0]
    # Square matrix over labels + the outcome columns that occur (gold rows for outcomes are 0).
    keep = np.r_[np.ones(n_lab, dtype=bool), cm[:, n_lab:].sum(axis=0) > 0]
    square = np.zeros((keep.sum(), keep.sum()), dtype=np.float64)
    square[:n_lab, :] = cm[:, keep]
    total = square.sum()
    if total == 0:
        _warn("cohen_kappa of no items is undefined; returning nan")
        return float("nan")
    sum0 = square.sum(axis=0)
    sum1 = square.sum(axis=1)
    expected = np.outer(sum0, sum1) / total
    w = np.ones_like(square)
    np.fill_diagonal(w, 0.0)
    den = np.sum(w * expected)
    if den == 0:
        _warn(
            "cohen_kappa is undefined when gold and predictions use one and the same single "
            "category (expected agreement is 1); returning nan"
        )
        return float("nan")
    return float(1 - np.sum(w * square) / den)


# --------------------------------------------------------------------------------------------
# intervals for a proportion
# --------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n``. For a decider's accuracy, non-ok outcomes
        are failures.
    n : int
        Number of trials.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of float
        ``(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with ``p = successes/n``,
        ``z`` the ``1 - (1 - confidence)/2`` normal quantile, clipped to [0, 1]; ``low`` is
        exactly 0 when ``successes == 0`` and ``high`` exactly 1 when ``successes == n``.
        ``n == 0`` returns ``(0.0, 1.0)`` with an :class:`UndefinedMetricWarning`.

    See Also
    --------
    clopper_pearson_interval : exact (conservative) interval.

    Examples
    --------
    8 of 10, z = 1.959964: centre = (0.8 + 0.19207)/1.38415 = 0.71675,
    half-width = 1.959964 * sqrt(0.016 + 0.0096037)/1.38415 = 0.22657:

    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    k, m = _check_count(successes, n)
    conf = _check_confidence(confidence)
    if m == 0:
        _warn("wilson_interval with n == 0 is undefined; returning (0.0, 1.0)")
        return (0.0, 1.0)
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    z2 = z * z
    p = k / m
    denom = 1 + z2 / m
    centre = (p + z2 / (2 * m)) / denom
    half = z * math.sqrt(p * (1 - p) / m + z2 / (4 * m * m)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == m else min(1.0, centre + half)
    return (low, high)


def clopper_pearson_interval(
    successes: int, n: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n`` (non-ok outcomes are failures).
    n : int
        Number of trials.
    confidence : float, default 0.95
        Two-sided confidence level; each tail gets ``(1 - confidence)/2``.

    Returns
    -------
    (low, high) : tuple of float
        Beta quantiles ``Beta(a/2; k, n-k+1)`` and ``Beta(1-a/2; k+1, n-k)``, with ``low = 0``
        when ``k == 0`` and ``high = 1`` when ``k == n``. ``n == 0`` returns ``(0.0, 1.0)`` with an
        :class:`UndefinedMetricWarning`.

    See Also
    --------
    clopper_pearson_lower : one-sided lower bound.
    wilson_interval : shorter interval with near-nominal coverage.

    Examples
    --------
    With no successes in 10, the upper bound solves ``(1 - p)^10 = 0.025``:
    ``1 - 0.025 ** 0.1 = 0.30850``.

    >>> [round(x, 5) for x in clopper_pearson_interval(0, 10)]
    [0.0, 0.3085]
    """
    k, m = _check_count(successes, n)
    alpha = 1 - _check_confidence(confidence)
    if m == 0:
        _warn("clopper_pearson_interval with n == 0 is undefined; returning (0.0, 1.0)")
        return (0.0, 1.0)
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, m - k + 1))
    high = 1.0 if k == m else float(stats.beta.ppf(1 - alpha / 2, k + 1, m - k))
    return (low, high)


def clopper_pearson_lower(successes: int, n: int, *, confidence: float = 0.95) -> float:
    """Exact one-sided lower confidence bound for a binomial proportion.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= n`` (non-ok outcomes are failures).
    n : int
        Number of trials.
    confidence : float, default 0.95
        One-sided confidence level: the true rate is at least the bound with this confidence.

    Returns
    -------
    float
        ``Beta(1 - confidence; k, n-k+1)`` quantile; 0.0 when ``k == 0``. ``n == 0`` returns
        0.0 with an :class:`UndefinedMetricWarning`.

    See Also
    --------
    clopper_pearson_interval : two-sided version.
    samples_to_confirm_at_least : how many items to plan for such a claim.

    Examples
    --------
    All 20 of 20 correct: the bound solves ``p^20 = 0.05``, so ``0.05 ** (1/20) = 0.86089``.

    >>> round(clopper_pearson_lower(20, 20), 5)
    0.86089
    """
    k, m = _check_count(successes, n)
    conf = _check_confidence(confidence)
    if m == 0:
        _warn("clopper_pearson_lower with n == 0 is undefined; returning 0.0")
        return 0.0
    return 0.0 if k == 0 else float(stats.beta.ppf(1 - conf, k, m - k + 1))


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------


def _resample_indices(
    rng: np.random.Generator, n: int, n_resamples: int
) -> Iterator[NDArray[np.intp]]:
    """Yield blocks of rows of bootstrap indices, ``n_resamples`` rows in all (bounded memory)."""
    rows = max(1, 2_000_000 // max(n, 1))
    done = 0
    while done < n_resamples:
        r = min(rows, n_resamples - done)
        yield rng.integers(0, n, size=(r, n))
        done += r


def _check_bootstrap(n_resamples: int, confidence: float) -> float:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return _check_confidence(confidence)


def _percentile_interval(values: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        _warn(
            "every bootstrap resample gave nan; the interval is undefined, returning (nan, nan)",
            stacklevel=4,
        )
        return (float("nan"), float("nan"))
    a = (1 - confidence) / 2
    low, high = np.percentile(kept, [100 * a, 100 * (1 - a)])
    return (float(low), float(high))


def bootstrap_interval(
    statistic: Callable[..., float],
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` by resampling items.

    Parameters
    ----------
    statistic : callable
        ``statistic(*resampled_arrays) -> float``.
    *arrays : array-like
        One or more arrays of equal length; row ``i`` of every array belongs to item ``i``, and
        items are resampled jointly (the same indices for every array). Non-ok outcomes are
        whatever ``statistic`` makes of them.
    n_resamples : int, default 1000
        Number of bootstrap resamples.
    confidence : float, default 0.95
        Two-sided level; returns the ``(1-c)/2`` and ``(1+c)/2`` percentiles (linear
        interpolation) of the resampled statistics.
    seed : int or None, default 0
        Seed for ``numpy.random.default_rng``; the same seed and inputs give the same interval.

    Returns
    -------
    (low, high) : tuple of float
        Resamples whose statistic is ``nan`` (e.g. F1 of a label absent from that resample) are
        dropped before taking percentiles. If every resample is ``nan``, or there are no items,
        returns ``(nan, nan)`` with an :class:`UndefinedMetricWarning`.

    See Also
    --------
    f1_interval : fast vectorized bootstrap for one label's F1.

    Examples
    --------
    Every resample of a constant array has the same mean:

    >>> bootstrap_interval(lambda x: float(x.mean()), [1.0, 1.0, 1.0], n_resamples=50)
    (1.0, 1.0)
    """
    conf = _check_bootstrap(n_resamples, confidence)
    if not arrays:
        raise ValueError("bootstrap_interval needs at least one array to resample")
    arrs = [np.asarray(a) for a in arrays]
    lengths = {a.shape[0] if a.ndim else -1 for a in arrs}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(
            "bootstrap_interval arrays must be at least 1-d and share their first dimension, "
            f"got shapes {[a.shape for a in arrs]}"
        )
    n = lengths.pop()
    if n == 0:
        _warn("bootstrap_interval of no items is undefined; returning (nan, nan)")
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = np.empty(int(n_resamples), dtype=np.float64)
    i = 0
    for block in _resample_indices(rng, n, int(n_resamples)):
        for idx in block:
            values[i] = float(statistic(*(a[idx] for a in arrs)))
            i += 1
    return _percentile_interval(values, conf)


def f1_interval(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    label: Hashable,
    labels: Sequence[Hashable],
    n_resamples: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval for one label's F1.

    Gives the same result as ``bootstrap_interval(stat, y_true, y_pred, ...)`` with a Python
    ``stat`` computing that label's F1 (nan when undefined), with the same seed, but counts
    TP/FP/FN per resample with numpy instead of calling a function per resample.

    Parameters
    ----------
    y_true : array-like of shape (n_items,)
        Gold labels; each must be in ``labels``.
    y_pred : array-like of shape (n_items,)
        Predictions; a non-ok outcome is a false negative when gold is ``label`` and otherwise
        irrelevant (never a false positive).
    label : hashable
        The label whose F1 is bootstrapped.
    labels : sequence
        All policy labels (for validation).
    n_resamples : int, default 1000
        Number of bootstrap resamples.
    seed : int or None, default 0
        Seed for ``numpy.random.default_rng``.
    confidence : float, default 0.95
        Two-sided level.

    Returns
    -------
    (low, high) : tuple of float
        Resamples with ``2 TP + FP + FN == 0`` (F1 undefined) are dropped. No items, or a label
        that is never in gold nor predicted, gives ``(nan, nan)`` with an
        :class:`UndefinedMetricWarning`.

    See Also
    --------
    precision_recall_f1 : the point estimate.
    bootstrap_interval : the general version.

    Examples
    --------
    Every item right, so every resample has F1 = 1:

    >>> f1_interval(["ok", "spam"] * 5, ["ok", "spam"] * 5, label="spam",
    ...             labels=["ok", "spam"], n_resamples=100)
    (1.0, 1.0)
    """
    t, p, labs = _check_targets(y_true, y_pred, labels)
    assert labs is not None
    if label not in labs:
        raise ValueError(f"label {label!r} is not in labels {list(labs)}")
    conf = _check_bootstrap(n_resamples, confidence)
    n = t.shape[0]
    if n == 0:
        _warn("f1_interval of no items is undefined; returning (nan, nan)")
        return (float("nan"), float("nan"))
    tc, pc = _encode(t, p, labs)
    k = labs.index(label)
    gold, pred = tc == k, pc == k
    # per item: 0 = TP, 1 = FP, 2 = FN, 3 = irrelevant
    kind = np.full(n, 3, dtype=np.intp)
    kind[gold & pred] = 0
    kind[~gold & pred] = 1
    kind[gold & ~pred] = 2
    rng = np.random.default_rng(seed)
    counts = []
    for block in _resample_indices(rng, n, int(n_resamples)):
        r = block.shape[0]
        cells = kind[block] + 4 * np.arange(r)[:, None]
        counts.append(np.bincount(cells.ravel(), minlength=4 * r).reshape(r, 4))
    c = np.concatenate(counts)
    tp, fp, fn = c[:, 0], c[:, 1], c[:, 2]
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)
    return _percentile_interval(f1, conf)


def percentile(values: ArrayLike, q: float) -> float | None:
    """The ``q``-th percentile of ``values`` with linear interpolation (as ``numpy.percentile``).

    Parameters
    ----------
    values : array-like of numbers
        Measurements, e.g. latencies. ``nan`` is rejected rather than skipped; filter missing
        measurements (such as those of ``"error"`` outcomes) before calling.
    q : float
        Percentile in [0, 100].

    Returns
    -------
    float or None
        The percentile; ``None`` for empty input, with an :class:`UndefinedMetricWarning`.

    Examples
    --------
    Position 0.9 * (4 - 1) = 2.7 between 30 and 40:

    >>> percentile([10, 20, 30, 40], 90)
    37.0
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q!r}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        _warn("percentile of no values is undefined; returning None")
        return None
    if np.isnan(arr).any():
        raise ValueError("values contain nan; drop missing measurements before percentile()")
    return float(np.percentile(arr, q))


# --------------------------------------------------------------------------------------------
# agreement among raters
# --------------------------------------------------------------------------------------------


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable | None]]) -> float:
    """Krippendorff's alpha for nominal data, via the coincidence matrix.

    Parameters
    ----------
    units : iterable of sequences
        One sequence per item listing the labels its raters gave (any number of raters per
        item). ``None`` entries mean "not rated" and are skipped. Items with fewer than two
        ratings are not pairable and are ignored, as in Krippendorff's definition. Non-ok
        outcomes, if present, are just further categories.

    Returns
    -------
    float
        ``alpha = 1 - D_o / D_e = ((n-1) sum_c o_cc - sum_c n_c (n_c - 1)) /
        (n (n-1) - sum_c n_c (n_c - 1))`` where ``o`` is the coincidence matrix (each unit with
        ``m_u`` ratings adds ``1/(m_u - 1)`` per ordered pair of its ratings), ``n_c`` its row
        sums and ``n`` the number of pairable ratings. Degenerate cases return ``nan`` with an
        :class:`UndefinedMetricWarning`: no pairable item, or only one category used across
        all pairable ratings (then ``D_e = 0`` and alpha is 0/0; the data say nothing about
        reliability, so 1.0 would overstate it).

    See Also
    --------
    cohen_kappa : two raters, no missing ratings.

    Examples
    --------
    Units (a, a), (b, b), (a, b): o_aa = 2, o_bb = 2, o_ab = o_ba = 1, n_a = n_b = 3, n = 6,
    alpha = (5 * 4 - 2 * 6) / (30 - 12) = 8/18 = 0.4444.

    >>> round(krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "b"]]), 4)
    0.4444
    """
    if isinstance(units, str):
        raise ValueError("units must be a sequence of per-item label lists, not a string")
    index: dict[Hashable, int] = {}
    rows: list[list[int]] = []
    for pos, unit in enumerate(units):
        if isinstance(unit, str):
            raise ValueError(
                f"units[{pos}] is the string {unit!r}; each unit must be a list of labels"
            )
        codes = [index.setdefault(v, len(index)) for v in unit if v is not None]
        if len(codes) >= 2:
            rows.append(codes)
    if not rows:
        _warn("krippendorff_alpha_nominal: no item has two or more ratings; returning nan")
        return float("nan")
    n_cat = len(index)
    counts = np.zeros((len(rows), n_cat), dtype=np.float64)
    for u, codes in enumerate(rows):
        np.add.at(counts[u], codes, 1.0)
    m = counts.sum(axis=1)
    # coincidences o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)
    o = (counts / (m - 1)[:, None]).T @ counts
    o[np.diag_indices(n_cat)] -= (counts / (m - 1)[:, None]).sum(axis=0)
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    same = float(np.sum(n_c * (n_c - 1)))
    den = n * (n - 1) - same
    if den <= 0:
        _warn(
            "krippendorff_alpha_nominal is undefined when all pairable ratings use a single "
            "category (expected disagreement is 0); returning nan"
        )
        return float("nan")
    return float(((n - 1) * np.trace(o) - same) / den)


# --------------------------------------------------------------------------------------------
# scores and calibration (binary)
# --------------------------------------------------------------------------------------------


def _binary_curve(
    y: NDArray[np.bool_], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cumulative (tps, fps) at each distinct score, highest first (sklearn's layout)."""
    order = np.argsort(s, kind="mergesort")[::-1]
    s_sorted = s[order]
    y_sorted = y[order].astype(np.float64)
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), y_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    fps = 1 + last_of_tie - tps
    return tps, fps.astype(np.float64)


def _single_class(y: NDArray[np.bool_], name: str) -> bool:
    if y.size == 0 or y.all() or not y.any():
        found = "no items" if y.size == 0 else f"only {'positives' if y.any() else 'negatives'}"
        _warn(
            f"{name} needs both positives and negatives, got {found}; returning nan",
            stacklevel=4,
        )
        return True
    return False


def roc_auc(y_true_binary: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve for a binary target.

    Parameters
    ----------
    y_true_binary : array-like of bool or 0/1
        1 (True) for the positive class. Non-ok outcomes have no score; map them before calling
        (for example to a score of 0, or drop them and report how many).
    scores : array-like of float
        Higher means more likely positive.

    Returns
    -------
    float
        Trapezoidal area under the ROC curve; tied scores form one step, so the result equals
        ``sklearn.metrics.roc_auc_score`` (a tie between a positive and a negative counts 1/2).
        Input with a single class (or no items) returns ``nan`` with an
        :class:`UndefinedMetricWarning`.

    See Also
    --------
    average_precision : area under the precision-recall curve.

    Examples
    --------
    Pairs (pos, neg): (0.8, 0.1) win, (0.8, 0.4) win, (0.4, 0.1) win, (0.4, 0.4) tie -> 3.5/4.

    >>> roc_auc([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4])
    0.875
    """
    y, s = _check_binary(y_true_binary, scores, "scores")
    if _single_class(y, "roc_auc"):
        return float("nan")
    tps, fps = _binary_curve(y, s)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def average_precision(y_true_binary: ArrayLike, scores: ArrayLike) -> float:
    """Average precision (area under the step precision-recall curve), binary target.

    Parameters
    ----------
    y_true_binary : array-like of bool or 0/1
        1 (True) for the positive class. Non-ok outcomes have no score; map them before calling.
    scores : array-like of float
        Higher means more likely positive.

    Returns
    -------
    float
        ``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds (ties form one step), equal to
        ``sklearn.metrics.average_precision_score``. Input with a single class (or no items)
        returns ``nan`` with an :class:`UndefinedMetricWarning`.

    See Also
    --------
    roc_auc : area under the ROC curve.

    Examples
    --------
    Thresholds 0.8 (P=1, R=1/2), 0.4 (P=2/3, R=1): AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.

    >>> round(average_precision([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4]), 6)
    0.833333
    """
    y, s = _check_binary(y_true_binary, scores, "scores")
    if _single_class(y, "average_precision"):
        return float("nan")
    tps, fps = _binary_curve(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    # same expression and order as sklearn (reversed curve, recall decreasing to 0)
    precision_rev = np.r_[precision[::-1], 1.0]
    recall_rev = np.r_[recall[::-1], 0.0]
    return float(max(0.0, -np.sum(np.diff(recall_rev) * precision_rev[:-1])))


def reliability_bins(
    y_true_binary: ArrayLike, probs: ArrayLike, *, n_bins: int = 10
) -> list[dict[str, Any]]:
    """Reliability-diagram table: observed positive rate per bin of predicted probability.

    Parameters
    ----------
    y_true_binary : array-like of bool or 0/1
        1 (True) where the positive outcome happened. Non-ok outcomes carry no probability;
        map or drop them before calling.
    probs : array-like of float in [0, 1]
        Predicted probability of the positive class.
    n_bins : int, default 10
        Number of equal-width bins ``[0, 1/n_bins), ..., [1 - 1/n_bins, 1]`` (last bin closed).

    Returns
    -------
    list of dict
        One dict per bin, all bins included so tables line up: ``low``, ``high``, ``n``,
        ``positives``, ``mean_confidence`` (mean predicted probability), ``observed_rate``
        (positives / n) and ``ci_low``/``ci_high`` (95% Wilson interval on ``observed_rate``).
        Empty bins have ``mean_confidence = observed_rate = None`` and interval (0.0, 1.0),
        without a warning.

    See Also
    --------
    expected_calibration_error : one-number summary of this table.

    Examples
    --------
    >>> bins = reliability_bins([0, 1, 1, 1], [0.1, 0.7, 0.9, 1.0], n_bins=2)
    >>> [(b["low"], b["high"], b["n"], b["observed_rate"]) for b in bins]
    [(0.0, 0.5, 1, 0.0), (0.5, 1.0, 3, 1.0)]
    """
    y, pr, edges, which = _bin(y_true_binary, probs, n_bins)
    out = []
    for b in range(n_bins):
        mask = which == b
        nb = int(mask.sum())
        pos = int(y[mask].sum())
        if nb:
            low, high = wilson_interval(pos, nb)
            mean_conf: float | None = float(pr[mask].mean())
            rate: float | None = pos / nb
        else:
            low, high, mean_conf, rate = 0.0, 1.0, None, None
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": nb,
                "positives": pos,
                "mean_confidence": mean_conf,
                "observed_rate": rate,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return out


def _bin(
    y_true_binary: ArrayLike, probs: ArrayLike, n_bins: int
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]]:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    y, pr = _check_binary(y_true_binary, probs, "probs")
    if pr.size and (pr.min() < 0 or pr.max() > 1):
        raise ValueError(
            f"probs must lie in [0, 1], found values in [{pr.min()}, {pr.max()}]"
        )
    # edges[b] = b / n_bins, correctly rounded, so 0.3 is the low edge of bin 3 of 10
    # (linspace would give 0.30000000000000004 and put 0.3 in bin 2; floor(p * n_bins) puts
    # 0.29 in bin 28 of 100). Bin b holds edges[b] <= p < edges[b+1]; p == 1 is in the last bin.
    edges = np.arange(int(n_bins) + 1) / int(n_bins)
    which = np.clip(np.searchsorted(edges, pr, side="right") - 1, 0, int(n_bins) - 1)
    return y, pr, edges, which


def expected_calibration_error(
    y_true_binary: ArrayLike, probs: ArrayLike, *, n_bins: int = 10
) -> float:
    """Expected calibration error of predicted probabilities for a binary outcome.

    Parameters
    ----------
    y_true_binary : array-like of bool or 0/1
        1 (True) where the positive outcome happened. Non-ok outcomes carry no probability;
        map or drop them before calling.
    probs : array-like of float in [0, 1]
        Predicted probability of the positive class.
    n_bins : int, default 10
        Equal-width bins as in :func:`reliability_bins`.

    Returns
    -------
    float
        ``sum_b (n_b / N) * |observed_rate_b - mean_confidence_b|`` over non-empty bins. No
        items returns ``nan`` with an :class:`UndefinedMetricWarning` (0.0 would read as
        perfect calibration).

    See Also
    --------
    reliability_bins : the per-bin table.

    Examples
    --------
    Bin [0, .5): one item, p=0.1, outcome 0 -> |0 - 0.1| = 0.1. Bin [.5, 1]: p = 0.7, 0.9, 1.0
    (mean 0.8667), all positive -> |1 - 0.8667| = 0.1333. ECE = 1/4 * 0.1 + 3/4 * 0.1333 = 0.125.

    >>> round(expected_calibration_error([0, 1, 1, 1], [0.1, 0.7, 0.9, 1.0], n_bins=2), 6)
    0.125
    """
    y, pr, _, which = _bin(y_true_binary, probs, n_bins)
    total = y.size
    if total == 0:
        _warn("expected_calibration_error of no items is undefined; returning nan")
        return float("nan")
    nb = np.bincount(which, minlength=n_bins)
    pos = np.bincount(which, weights=y.astype(np.float64), minlength=n_bins)
    conf = np.bincount(which, weights=pr, minlength=n_bins)
    used = nb > 0
    gap = np.abs(pos[used] - conf[used]) / nb[used]
    return float(np.sum(nb[used] / total * gap))


# --------------------------------------------------------------------------------------------
# tests and planning
# --------------------------------------------------------------------------------------------


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts of two paired deciders.

    Parameters
    ----------
    b : int
        Items the first decider got right and the second wrong.
    c : int
        Items the first decider got wrong and the second right. Non-ok outcomes count as wrong.

    Returns
    -------
    float
        ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``, which equals
        ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``. ``b == c == 0`` (no discordant pairs,
        nothing to test) returns 1.0 without a warning.

    See Also
    --------
    clopper_pearson_interval : exact interval for a single rate.

    Examples
    --------
    b=1, c=5: P(X <= 1) = (1 + 6)/64, so p = 14/64 = 0.21875.

    >>> mcnemar_exact(1, 5)
    0.21875
    """
    for name, v in (("b", b), ("c", c)):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative whole number, got {v!r}")
    b, c = int(b), int(c)
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5)))


def _ceil(x: float) -> int:
    # tolerate floating error just above a whole number (e.g. 100.00000000000001 -> 100)
    return max(1, math.ceil(x - 1e-9))


def binomial_sample_size(
    p_expected: float, margin: float, *, confidence: float = 0.95
) -> int:
    """Items needed to estimate a proportion within ``+/- margin`` (normal approximation).

    Parameters
    ----------
    p_expected : float in [0, 1]
        Expected rate (use 0.5 when unknown: it is the worst case). For accuracy, non-ok
        outcomes are failures, so include them in the expected error rate.
    margin : float in (0, 1)
        Wanted half-width of the two-sided interval.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    int
        ``ceil(z^2 p (1 - p) / margin^2)`` with ``z`` the ``1 - (1 - confidence)/2`` normal
        quantile, and at least 1.

    See Also
    --------
    samples_to_confirm_at_least : sample size for a one-sided claim.

    Examples
    --------
    1.959964^2 * 0.25 / 0.0025 = 384.15 -> 385:

    >>> binomial_sample_size(0.5, 0.05)
    385
    """
    if not 0.0 <= p_expected <= 1.0:
        raise ValueError(f"p_expected must be in [0, 1], got {p_expected!r}")
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be in (0, 1), got {margin!r}")
    z = float(stats.norm.ppf(1 - (1 - _check_confidence(confidence)) / 2))
    return _ceil(z * z * p_expected * (1 - p_expected) / (margin * margin))


def samples_to_confirm_at_least(
    target: float, expected: float, *, confidence: float = 0.95, power: float = 0.8
) -> int:
    """Items needed to show the true rate is at least ``target`` when you expect ``expected``.

    One-sided test of ``H0: p <= target`` against ``p = expected > target`` (normal
    approximation)::

        n = ((z_conf * sqrt(t (1 - t)) + z_power * sqrt(e (1 - e))) / (e - t)) ** 2

    with ``z_conf = Phi^-1(confidence)`` (one-sided) and ``z_power = Phi^-1(power)``, rounded up.

    Parameters
    ----------
    target : float in [0, 1)
        Rate to prove, e.g. the accuracy a tier must reach.
    expected : float in (target, 1]
        Rate you believe the decider has (non-ok outcomes count as failures).
    confidence : float, default 0.95
        One-sided confidence of the claim.
    power : float, default 0.8
        Probability of confirming the claim if the rate really is ``expected``.

    Returns
    -------
    int
        Number of items, at least 1.

    See Also
    --------
    clopper_pearson_lower : the bound to check once the data are in.
    binomial_sample_size : sample size for a two-sided margin.

    Examples
    --------
    target 0.9, expected 0.95: (1.644854 * 0.3 + 0.841621 * 0.217945) / 0.05 = 13.5375,
    squared 183.26 -> 184:

    >>> samples_to_confirm_at_least(0.9, 0.95)
    184
    """
    if not 0.0 <= target < expected <= 1.0:
        raise ValueError(
            f"need 0 <= target < expected <= 1, got target={target!r}, expected={expected!r}"
        )
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be strictly between 0 and 1, got {power!r}")
    z_a = float(stats.norm.ppf(_check_confidence(confidence)))
    z_b = float(stats.norm.ppf(power))
    root = z_a * math.sqrt(target * (1 - target)) + z_b * math.sqrt(expected * (1 - expected))
    return _ceil((root / (expected - target)) ** 2)
