"""One binomial proportion: exact one-sided bounds and p-values (scipy), Wilson intervals
(statsmodels); and the difference of two independent proportions (Newcombe, statsmodels).

The exact (Clopper–Pearson) bounds are the Beta quantiles that define them
(``scipy.special.betaincinv``, the function ``scipy.stats.beta.ppf`` evaluates, without its ~50 µs
of argument checks a call; the same numbers as ``scipy.stats.binomtest(...).proportion_ci``,
which finds them by root search, a hundred times slower). A one-sided bound at level ``c`` meets a
target exactly when the exact binomial test of that target rejects at ``1 - c``: the bounds are
the inversion of the tests, so a claim may be checked either way (routing reports the bound,
Holm's procedure needs the p-value).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

__all__ = ["clopper_pearson", "lower_bound", "lower_bound_cutoffs", "lower_bound_meets",
           "lower_bounds", "newcombe_difference", "p_greater", "p_less", "upper_bound",
           "upper_bound_cutoffs", "upper_bound_meets", "upper_bounds", "wilson"]


def lower_bound(k: int, n: int, confidence: float) -> float:
    """One-sided exact lower bound of ``k / n`` at ``confidence``; 0.0 when ``n == 0``.

    ``scipy.stats.binomtest(k, n, alternative="greater").proportion_ci(confidence)``.

    Examples
    --------
    All 20 of 20: the bound solves ``p ** 20 = 0.05``.

    >>> round(lower_bound(20, 20, 0.95), 5)
    0.86089
    """
    if n == 0 or k == 0:
        return 0.0
    return float(special.betaincinv(k, n - k + 1, 1 - confidence))


def upper_bound(k: int, n: int, confidence: float) -> float:
    """One-sided exact upper bound of ``k / n`` at ``confidence``; 1.0 when ``n == 0``.

    Examples
    --------
    >>> round(upper_bound(0, 20, 0.95), 5)
    0.13911
    """
    if n == 0 or k == n:
        return 1.0
    return float(special.betaincinv(k + 1, n - k, confidence))


def p_greater(k: int, n: int, target: float) -> float:
    """Exact p-value of ``H0: rate <= target`` against ``rate > target``: ``P(X >= k)`` for
    ``X ~ Binomial(n, target)`` (as ``scipy.stats.binomtest(..., alternative="greater")``); 1.0
    with no items. Small p-values support the claim "the rate is above ``target``".

    Examples
    --------
    >>> round(p_greater(19, 20, 0.8), 4)
    0.0692
    """
    if n == 0:
        return 1.0
    return float(stats.binom.sf(k - 1, n, target))


def p_less(k: int, n: int, target: float) -> float:
    """Exact p-value of ``H0: rate >= target`` against ``rate < target``: ``P(X <= k)``; 1.0 with
    no items."""
    if n == 0:
        return 1.0
    return float(stats.binom.cdf(k, n, target))


def lower_bounds(k: ArrayLike, n: ArrayLike, confidence: float) -> NDArray[np.float64]:
    """:func:`lower_bound` for arrays of counts (the Beta quantile that defines it), for searches
    over many thresholds; 0.0 where ``k == 0`` or ``n == 0``.

    The quantile is ``scipy.special.betaincinv(k, n - k + 1, 1 - confidence)``, the function
    ``scipy.stats.beta.ppf`` evaluates (same values) without its argument checks and broadcasting
    machinery, which cost ~0.3 ms a call: a routing search makes thousands of calls."""
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = special.betaincinv(k_arr, n_arr - k_arr + 1, 1 - confidence)
    return np.where((k_arr > 0) & (n_arr > 0), np.nan_to_num(out), 0.0)


def upper_bounds(k: ArrayLike, n: ArrayLike, confidence: float) -> NDArray[np.float64]:
    """:func:`upper_bound` for arrays of counts; 1.0 where ``k == n`` or ``n == 0``."""
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    return 1.0 - lower_bounds(n_arr - k_arr, n_arr, confidence)


def lower_bound_meets(k: ArrayLike, n: ArrayLike, confidence: float,
                      target: float) -> NDArray[np.bool_]:
    """``lower_bounds(k, n, confidence) >= target``, elementwise, about ten times faster: from the
    Beta CDF at the target (:func:`_meets`), the bound itself only at the edge.

    Examples
    --------
    >>> lower_bound_meets([17, 18], [20, 20], 0.95, 0.7).tolist()
    [False, True]
    """
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, np.float64), np.asarray(n, np.float64))
    return _meets(k_arr, n_arr, confidence, target, True)


def upper_bound_meets(k: ArrayLike, n: ArrayLike, confidence: float,
                      target: float) -> NDArray[np.bool_]:
    """``upper_bounds(k, n, confidence) <= target``, elementwise (see :func:`lower_bound_meets`).

    Examples
    --------
    >>> upper_bound_meets([0, 1], [20, 20], 0.95, 0.2).tolist()
    [True, False]
    """
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, np.float64), np.asarray(n, np.float64))
    return _meets(k_arr, n_arr, confidence, target, False)


def lower_bound_cutoffs(n: ArrayLike, confidence: float, target: float) -> NDArray[np.intp]:
    """Per ``n``, the fewest successes ``k`` whose :func:`lower_bounds` at ``confidence`` reaches
    ``target`` (``n + 1`` when none does): ``lower_bounds(k, n) >= target`` exactly when ``k >=
    cutoff``, so a search over many candidates compares counts instead of evaluating a Beta
    quantile for each.

    The bound grows with ``k`` at fixed ``n`` (by about ``1 / n`` a step), so one cutoff per ``n``
    decides every ``k``. A normal approximation gives the first guess; each cutoff is then moved
    until the bound agrees at the cutoff and next to it (:func:`_meets`), so float rounding at the
    edge decides as ``lower_bounds`` does.

    Examples
    --------
    18 of 20 has an exact 95% lower bound of 0.717 (above 0.7), 17 of 20 one of 0.656:

    >>> lower_bound_cutoffs([20], 0.95, 0.7).tolist()
    [18]
    """
    return _cutoffs(np.asarray(n, dtype=np.float64), confidence, target, lower=True)


def upper_bound_cutoffs(n: ArrayLike, confidence: float, target: float) -> NDArray[np.intp]:
    """Per ``n``, the most successes ``k`` whose :func:`upper_bounds` at ``confidence`` stays at
    or below ``target`` (``-1`` when none does): ``upper_bounds(k, n) <= target`` exactly when
    ``k <= cutoff`` (see :func:`lower_bound_cutoffs`).

    Examples
    --------
    0 of 20 has an exact 95% upper bound of 0.139, 1 of 20 one of 0.217:

    >>> upper_bound_cutoffs([20], 0.95, 0.2).tolist()
    [0]
    """
    return _cutoffs(np.asarray(n, dtype=np.float64), confidence, target, lower=False)


def _cutoffs(n: NDArray[np.float64], confidence: float, target: float, *,
             lower: bool) -> NDArray[np.intp]:
    n = np.atleast_1d(n)
    # the binomial test's critical count, normal with a skewness term (Cornish-Fisher) and
    # continuity: off by one or two at most
    z = stats.norm.ppf(confidence) * (1 if lower else -1)
    skew = (z * z - 1) * (1 - 2 * target) / 6
    guess = np.round(n * target + z * np.sqrt(n * target * (1 - target)) + skew
                     + (0.5 if lower else -0.5))
    k = np.clip(guess, -1, n + 1)
    toward = -1.0 if lower else 1.0  # from the cutoff towards the counts that meet
    moving = np.arange(n.size)
    for _ in range(int(n.max(initial=0)) + 3):  # each cutoff moves one way, at most n + 2 steps
        if not moving.size:
            break
        km, nm = k[moving], n[moving]
        further = _meets(km + toward, nm, confidence, target, lower)  # the cutoff lies further in
        back = ~further & ~_meets(km, nm, confidence, target, lower) & (km >= 0) & (km <= nm)
        k[moving] = np.where(further, km + toward, np.where(back, km - toward, km))
        moving = moving[further | back]
    if moving.size:
        raise ArithmeticError("binomial bound cutoffs did not settle: the bound is not monotone "
                              "in the count here")
    return k.astype(np.intp)


def _meets(k: NDArray[np.float64], n: NDArray[np.float64], confidence: float, target: float,
           lower: bool) -> NDArray[np.bool_]:
    """``lower_bounds(k, n) >= target`` (``lower``) or ``upper_bounds(k, n) <= target``; False for
    ``k`` outside ``0..n``. The bound is a Beta quantile, so it meets the target exactly when the
    Beta CDF at the target is on the right side of the quantile's level: that CDF
    (``special.betainc``, ~10x cheaper than its inverse) decides, and the bound itself decides
    where the two are within a millionth of the tail of each other or a count is at an end."""
    inside = (k >= 0) & (k <= n)
    kk = np.clip(k, 0, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        if lower:  # lower bound: the (1 - confidence) quantile of Beta(k, n - k + 1)
            cdf, level = special.betainc(kk, n - kk + 1, target), 1 - confidence
            out = cdf <= level
        else:  # upper bound: the confidence quantile of Beta(k + 1, n - k)
            cdf, level = special.betainc(kk + 1, n - kk, target), confidence
            out = cdf >= level
    unsure = (kk == 0) | (kk == n) | ~(np.abs(cdf - level) > 1e-6 * (1 - confidence))
    if unsure.any():
        bound = lower_bounds if lower else upper_bounds
        b = bound(kk[unsure], n[unsure], confidence)
        out[unsure] = b >= target if lower else b <= target
    return out & inside


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Two-sided exact interval of ``k / n``; None when ``n == 0`` (undefined)."""
    if n == 0:
        return None
    tail = (1 + confidence) / 2
    return lower_bound(k, n, tail), upper_bound(k, n, tail)


def wilson(k: float, n: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Two-sided Wilson score interval of ``k / n`` (statsmodels ``proportion_confint``), exactly
    0 below at ``k == 0`` and 1 above at ``k == n``; None when ``n == 0``.

    Examples
    --------
    >>> [round(x, 4) for x in wilson(8, 10)]
    [0.4902, 0.9433]
    """
    if n == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return (0.0 if k == 0 else max(0.0, float(low))), (1.0 if k == n else min(1.0, float(high)))


def newcombe_difference(k1: int, n1: int, k2: int, n2: int,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """``k1/n1 - k2/n2`` of two independent proportions with Newcombe's hybrid score interval
    (statsmodels ``confint_proportions_2indep(method="newcomb")``); both groups need trials.

    Examples
    --------
    Newcombe (1998), example (a): 56/70 against 48/80, difference 0.2, interval 0.0524 to 0.3339.

    >>> [round(x, 4) for x in newcombe_difference(56, 70, 48, 80)]
    [0.2, 0.0524, 0.3339]
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError(f"both groups need trials, got n1={n1}, n2={n2}")
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff",
                                           alpha=1 - confidence)
    return k1 / n1 - k2 / n2, float(low), float(high)
