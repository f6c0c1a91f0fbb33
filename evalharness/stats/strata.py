"""Rates at production prevalence from a golden set enriched by gold class.

A golden set is a sample of two gold strata — violating and not violating items — mixed at a rate
chosen by whoever built it (often ~30% violating), while production may see 1% or less. Within each
stratum the items are taken to be representative; the strata are weighted to the stated production
prevalence ``p`` (violating) and ``1 - p``. Without a stated prevalence every rate is the plain
golden-set rate.

Three shapes of rate cover what routing and reports claim:

* **within** one stratum (recall of violating items, the share of them an auto-clear step loses):
  a plain binomial proportion whatever the prevalence — exact Clopper–Pearson (scipy);
* **across** strata (precision of violating calls; the violating share of auto-cleared items): the
  items counted come from one stratum A (``x_a`` of its ``n_a`` items) and the others from stratum
  B (``x_b`` of ``n_b``), so at prevalence weights ``W``::

      rate = W_a x_a/n_a / (W_a x_a/n_a + W_b x_b/n_b) = 1 / (1 + (W_b/W_a) * r),
      r = (x_b/n_b) / (x_a/n_a)

  a monotone function of the ratio ``r`` of two independent proportions. Tests and intervals use
  the score method for that ratio (Miettinen–Nurminen / Koopman; statsmodels
  ``test_proportions_2indep`` and ``confint_proportions_2indep`` with ``compare="ratio"``), which
  stays honest when a count is zero — exactly where a naive reweighting claims precision 1.0;
* **weighted shares** (accuracy, the share of traffic a tier takes): ``W_1 k_1/n_1 + W_0 k_0/n_0``,
  an interval by MOVER (Zou & Donner 2008) from each stratum's Wilson interval — a few lines of
  glue over statsmodels' Wilson, since no library offers the combination.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

from ..records import Interval
from .binomial import clopper_pearson, p_greater, p_less, wilson

__all__ = ["Prevalence", "StratifiedRate", "katz_bound", "weighted_share"]

VIOLATING, OTHER = 0, 1
"""Stratum indices: gold violating, gold not violating."""


@dataclass(frozen=True)
class Prevalence:
    """The production share of violating items that the two gold strata are weighted to."""

    violating: float

    def __post_init__(self) -> None:
        if not 0.0 < self.violating < 1.0:
            raise ValueError(f"prevalence must be strictly between 0 and 1, got {self.violating}")

    @property
    def weights(self) -> tuple[float, float]:
        """Population shares of (violating, not violating) items."""
        return self.violating, 1.0 - self.violating


def _score_method(p: Prevalence) -> str:
    return f"score ratio at prevalence {p.violating:g}"


@dataclass(frozen=True)
class StratifiedRate:
    """A rate whose counts are split by gold stratum, estimable at any prevalence.

    Build it with :meth:`within`, :meth:`across` or :meth:`pooled`; a prevalence of ``None``
    means the golden set's own mix (plain counts, exact Clopper–Pearson).
    """

    shape: str
    """``within`` one stratum, ``across`` strata (numerator in one), or ``pooled`` (general)."""
    num: tuple[int, int]
    """Numerator count per stratum (violating, other)."""
    den: tuple[int, int]
    """Denominator count per stratum."""
    size: tuple[int, int]
    """Items of each stratum in the sample (what the weights scale)."""
    stratum_a: int = VIOLATING
    """``within``: the stratum; ``across``: the stratum the numerator comes from."""

    @classmethod
    def within(cls, k: int, n: int, *, stratum: int = VIOLATING) -> StratifiedRate:
        """``k`` of ``n`` items of one stratum (e.g. violating items caught of all violating)."""
        counts = [(0, 0), (0, 0)]
        counts[stratum] = (int(k), int(n))
        return cls("within", (counts[0][0], counts[1][0]), (counts[0][1], counts[1][1]),
                   (counts[0][1], counts[1][1]), stratum)

    @classmethod
    def across(cls, x_a: int, n_a: int, x_b: int, n_b: int, *, stratum_a: int) -> StratifiedRate:
        """``x_a`` of stratum A's ``n_a`` items over those plus ``x_b`` of stratum B's ``n_b``
        (e.g. true positives over all calls)."""
        num, den, size = [0, 0], [0, 0], [0, 0]
        num[stratum_a], den[stratum_a], size[stratum_a] = int(x_a), int(x_a), int(n_a)
        den[1 - stratum_a], size[1 - stratum_a] = int(x_b), int(n_b)
        return cls("across", (num[0], num[1]), (den[0], den[1]), (size[0], size[1]), stratum_a)

    @classmethod
    def pooled(cls, num: tuple[int, int], den: tuple[int, int],
               size: tuple[int, int]) -> StratifiedRate:
        """Any ratio of counts from both strata; at production prevalence only its point
        estimate is known (no exact test covers it)."""
        return cls("pooled", num, den, size)

    # ------------------------------------------------------------------------------------------

    @property
    def k(self) -> int:
        """Numerator count on the golden set."""
        return self.num[0] + self.num[1]

    @property
    def n(self) -> int:
        """Denominator count on the golden set."""
        return self.den[0] + self.den[1]

    def _plain(self, prevalence: Prevalence | None) -> bool:
        return self.shape == "within" or prevalence is None

    def testable(self, prevalence: Prevalence | None) -> bool:
        """Whether a claim on this rate can be tested (not only estimated) at ``prevalence``."""
        return self._plain(prevalence) or self.shape == "across"

    def value(self, prevalence: Prevalence | None = None) -> float | None:
        """The point estimate; None when undefined (an empty denominator or stratum)."""
        if self._plain(prevalence):
            return self.k / self.n if self.n else None
        assert prevalence is not None
        if 0 in self.size or self.n == 0:
            return None
        w = prevalence.weights
        top = sum(w[s] * self.num[s] / self.size[s] for s in (0, 1))
        bottom = sum(w[s] * self.den[s] / self.size[s] for s in (0, 1))
        return top / bottom if bottom else None

    def method(self, prevalence: Prevalence | None) -> str:
        if self._plain(prevalence):
            return "clopper-pearson"
        assert prevalence is not None
        return _score_method(prevalence) if self.shape == "across" else \
            f"point estimate at prevalence {prevalence.violating:g}"

    def interval(self, prevalence: Prevalence | None = None, confidence: float = 0.95) -> Interval:
        """The estimate with its two-sided interval (null when undefined; a ``pooled`` rate at
        production prevalence has no interval)."""
        value = self.value(prevalence)
        method = self.method(prevalence)
        if value is None:
            return Interval(value=None, method=method)
        if self._plain(prevalence):
            low, high = clopper_pearson(self.k, self.n, confidence) or (None, None)
            return Interval(value=value, low=low, high=high, method=method)
        if self.shape != "across":
            return Interval(value=value, method=method)
        assert prevalence is not None
        a, b = self.stratum_a, 1 - self.stratum_a
        k = prevalence.weights[b] / prevalence.weights[a]
        alpha = 1 - confidence
        if self.num[a] > 0:  # r = (x_b/n_b) / (x_a/n_a), rate = 1 / (1 + k r)
            r_low, r_high = _ratio_ci(self.den[b], self.size[b], self.num[a], self.size[a], alpha)
            low = 1 / (1 + k * r_high) if math.isfinite(r_high) else 0.0
            high = 1 / (1 + k * max(r_low, 0.0))
        else:  # q = (x_a/n_a) / (x_b/n_b) = 0, rate = q / (q + k)
            _, q_high = _ratio_ci(self.num[a], self.size[a], self.den[b], self.size[b], alpha)
            low, high = 0.0, q_high / (q_high + k)
        return Interval(value=value, low=min(low, value), high=max(high, value), method=method)

    def p_value(self, direction: str, target: float, prevalence: Prevalence | None = None) -> float:
        """One-sided p-value of "the target is missed": ``direction="at_least"`` tests
        ``H0: rate < target``, ``"at_most"`` tests ``H0: rate > target``; small values support the
        claim. 1.0 when the rate is undefined or cannot be tested at ``prevalence``."""
        at_least = direction == "at_least"
        if self._plain(prevalence):
            if not self.n:
                return 1.0
            return p_greater(self.k, self.n, target) if at_least else p_less(self.k, self.n, target)
        assert prevalence is not None
        a, b = self.stratum_a, 1 - self.stratum_a
        w = prevalence.weights
        if self.shape != "across" or 0 in self.size or (self.num[a] if at_least else self.den[b]) == 0:
            return 1.0
        if at_least:  # rate >= t  <=>  r = (x_b/n_b)/(x_a/n_a) <= w_a (1 - t) / (w_b t)
            return _ratio_p(self.den[b], self.size[b], self.num[a], self.size[a],
                            w[a] * (1 - target) / (w[b] * target))
        # rate <= t  <=>  q = (x_a/n_a)/(x_b/n_b) <= w_b t / (w_a (1 - t))
        return _ratio_p(self.num[a], self.size[a], self.den[b], self.size[b],
                        w[b] * target / (w[a] * (1 - target)))


def _ratio_ci(count1: int, nobs1: int, count2: int, nobs2: int, alpha: float) -> tuple[float, float]:
    """Score interval of ``(count1/nobs1) / (count2/nobs2)``; ``count2 > 0``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = confint_proportions_2indep(count1, nobs1, count2, nobs2, compare="ratio",
                                               method="score", alpha=alpha)
    # the score limits are roots of a cubic (Koopman / Nam); numerically they can carry a
    # vanishing imaginary part
    return max(float(np.real(low)), 0.0), float(np.real(high))


def _ratio_p(count1: int, nobs1: int, count2: int, nobs2: int, value: float) -> float:
    """p-value of ``H0: ratio >= value`` against ``ratio < value`` (score test); ``count2 > 0``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test_proportions_2indep(count1, nobs1, count2, nobs2, value=value, compare="ratio",
                                      method="score", alternative="smaller")
    p = float(res.pvalue)
    return 1.0 if math.isnan(p) else p


def katz_bound(x_a: ArrayLike, n_a: ArrayLike, x_b: ArrayLike, n_b: ArrayLike, w_a: float,
               w_b: float, level: float, side: str) -> NDArray[np.float64]:
    """A fast one-sided bound of an ``across`` rate at prevalence weights ``w_a``, ``w_b``, from
    the Katz log interval of ``r = (x_b/n_b) / (x_a/n_a)`` with 0.5 added to every count
    (statsmodels ``confint_proportions_2indep(compare="ratio", method="log-adjusted")``, over
    arrays). For screening many candidates; claims are tested with the score test
    (:meth:`StratifiedRate.p_value`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = confint_proportions_2indep(np.asarray(x_b), np.asarray(n_b), np.asarray(x_a),
                                               np.asarray(n_a), compare="ratio",
                                               method="log-adjusted", alpha=2 * (1 - level))
    ratio = np.asarray(high if side == "lower" else low, dtype=np.float64)
    return 1 / (1 + w_b / w_a * ratio)


def weighted_share(k: tuple[int, int], n: tuple[int, int], prevalence: Prevalence | None,
                   confidence: float = 0.95) -> Interval:
    """``W_v k_v/n_v + W_o k_o/n_o`` over the two strata, with a MOVER interval combining each
    stratum's Wilson interval (Zou & Donner 2008); without a prevalence, ``sum(k)/sum(n)`` with a
    Wilson interval. Null when a weighted stratum has no items.

    Examples
    --------
    Half the violating and a tenth of the other items, at 1% prevalence:

    >>> iv = weighted_share((50, 10), (100, 100), Prevalence(0.01))
    >>> round(iv.value, 3), iv.low < iv.value < iv.high
    (0.104, True)
    """
    if prevalence is None:
        total_n = n[0] + n[1]
        ci = wilson(k[0] + k[1], total_n, confidence)
        if ci is None:
            return Interval(value=None, method="wilson")
        return Interval(value=(k[0] + k[1]) / total_n, low=ci[0], high=ci[1], method="wilson")
    weights = prevalence.weights
    if n[0] == 0 or n[1] == 0:
        return Interval(value=None, method="mover-wilson")
    rates = [k[s] / n[s] for s in (0, 1)]
    cis = [wilson(k[s], n[s], confidence) for s in (0, 1)]
    value = sum(w * r for w, r in zip(weights, rates))
    low = value - math.sqrt(sum((w * (r - ci[0])) ** 2 for w, r, ci in zip(weights, rates, cis)))
    high = value + math.sqrt(sum((w * (ci[1] - r)) ** 2 for w, r, ci in zip(weights, rates, cis)))
    return Interval(value=value, low=max(0.0, low), high=min(1.0, high), method="mover-wilson")
