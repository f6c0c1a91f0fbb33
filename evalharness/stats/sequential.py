"""An anytime-valid confidence sequence for a rate, for QA looked at every week.

A fixed-sample interval checked after every week's QA batch is wrong far more often than its
level says (every look is another chance of a false alarm). A confidence sequence holds at every
look at once: with probability at least ``1 - alpha``, the true rate is inside the interval of
every week, however many weeks are looked at and whenever one stops.

This one is the beta-binomial mixture (Robbins' method of mixtures): after ``k`` successes in
``n`` Bernoulli trials the mixture likelihood with a Beta(a, b) prior over the rate,
``B(a + k, b + n - k) / B(a, b)``, divided by the likelihood at a rate ``p`` is a nonnegative
martingale with mean 1 when ``p`` is the true rate, so by Ville's inequality it exceeds
``1 / alpha`` at any time with probability at most ``alpha``. The sequence is every ``p`` where it
stays below. The Beta function comes from scipy (``betaln``), the roots from ``brentq``.
A target is **revoked** when the whole interval is on its wrong side, **holds** when the whole
interval is on its right side, and is **too early to tell** otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq
from scipy.special import betaln, xlog1py, xlogy

__all__ = ["PRIOR", "betting_evidence", "confidence_sequence", "items_needed"]

PRIOR = (0.5, 0.5)
"""Beta(1/2, 1/2) (Jeffreys) mixing distribution."""


def _excess(k: int, n: int, p: float, log_level: float) -> float:
    """log(mixture / likelihood at ``p``) minus log(1 / alpha): positive outside the sequence."""
    a, b = PRIOR
    mixture = betaln(a + k, b + n - k) - betaln(a, b)
    return mixture - (xlogy(k, p) + xlog1py(n - k, -p)) - log_level


def confidence_sequence(k: int, n: int, alpha: float) -> tuple[float, float]:
    """The sequence's interval after ``k`` successes in ``n`` trials: (low, high), valid at
    every ``n`` at once with probability ``1 - alpha``; (0, 1) with no trials."""
    if n == 0:
        return 0.0, 1.0
    log_level = math.log(1 / alpha)
    centre = min(max(k / n, 1e-12), 1 - 1e-12)
    def outside(p: float) -> float:
        return _excess(k, n, p, log_level)

    low = 0.0 if k == 0 or outside(1e-15) < 0 else brentq(outside, 1e-15, centre, xtol=1e-12)
    high = 1.0 if k == n or outside(1 - 1e-15) < 0 else brentq(outside, centre, 1 - 1e-15,
                                                                 xtol=1e-12)
    return float(low), float(high)


def items_needed(rate: float, target: float, alpha: float, start: int,
                 limit: int = 1_000_000) -> int | None:
    """Trials after which the sequence would leave ``target`` behind if the rate stayed at
    ``rate`` (the current estimate): the fewest ``n >= start`` whose interval excludes
    ``target``; None when the rate equals the target or it takes more than ``limit``."""
    if rate == target:
        return None

    def excludes(n: int) -> bool:
        low, high = confidence_sequence(round(rate * n), n, alpha)
        return high < target if rate < target else low > target

    if excludes(start):
        return start
    lo, hi = start, max(start * 2, 16)
    while not excludes(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if excludes(mid) else (mid, hi)
    return hi


def betting_evidence(outcomes: Sequence[int], target: float, *, below: bool,
                     halflife: float = 50.0) -> NDArray[np.float64]:
    """Evidence against a rate target, after each outcome (0/1, in order): the wealth of a bet
    that the rate is below ``target`` (``below``) or above it.

    Against "every outcome's chance of success is at least ``target``" (``below``) the wealth is
    ``prod(1 + lam_i * (target - x_i))``; against "at most" it is ``prod(1 + lam_i * (x_i -
    target))``. Each ``lam_i`` is chosen from the outcomes before ``i`` only (a Kelly-style plug-in
    of an exponentially weighted recent rate, so the bet follows drift), within the range that
    keeps every factor positive. Under the tested hypothesis the wealth is a nonnegative
    supermartingale even when the rate changes over time, so by Ville's inequality it ever
    reaches ``1 / alpha`` with probability at most ``alpha`` (Waudby-Smith & Ramdas, "Estimating
    means of bounded random variables by betting", 2023)."""
    x = np.asarray(outcomes, dtype=np.float64)
    wealth = np.empty(len(x))
    cap = 0.5 / ((1 - target) if below else target)  # keeps each factor >= 1/2
    decay = 0.5 ** (1 / halflife)
    mean, var, weight, log_w = target, 0.25, 0.0, 0.0
    for i, xi in enumerate(x):
        edge = (target - mean) if below else (mean - target)
        lam = min(cap, max(0.0, edge / (var + edge * edge))) if weight > 0 else 0.0
        log_w += math.log1p(lam * ((target - xi) if below else (xi - target)))
        wealth[i] = math.exp(log_w)
        before, weight = decay * weight, decay * weight + 1
        new_mean = mean + (xi - mean) / weight
        var = max(1e-4, (before * var + (xi - mean) * (xi - new_mean)) / weight)
        mean = new_mean
    return wealth
