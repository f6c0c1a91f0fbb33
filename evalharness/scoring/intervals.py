"""Intervals as metrics.json stores them: an :class:`~evalharness.records.Interval` from counts
(Wilson) or from a statistic and its bootstrap bounds, undefined values stored as null (never a
silent NaN on disk)."""

from __future__ import annotations

import math

from ..records import Interval
from ..stats.binomial import wilson as wilson_bounds

__all__ = ["from_bounds", "or_none", "wilson"]


def or_none(x: float | None) -> float | None:
    """``x`` as a float, None for None or nan."""
    return None if x is None or math.isnan(x) else float(x)


def wilson(successes: int, n: int) -> Interval:
    """``successes / n`` with its Wilson 95% interval; value null when ``n == 0``."""
    bounds = wilson_bounds(successes, n)
    if bounds is None:
        return Interval(value=None, method="wilson")
    return Interval(value=successes / n, low=bounds[0], high=bounds[1], method="wilson")


def from_bounds(value: float | None, bounds: tuple[float, float], method: str) -> Interval:
    """A statistic with its interval; null throughout when the statistic is undefined."""
    point = or_none(value)
    if point is None:
        return Interval(value=None, method=method)
    return Interval(value=point, low=or_none(bounds[0]), high=or_none(bounds[1]), method=method)
