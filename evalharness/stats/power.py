"""Power and sample sizes (statsmodels): how small a drop a comparison can see at a given n, and
how many labeled items confirm a rate beats its target or estimate it within a margin."""

from __future__ import annotations

import math

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, samplesize_confint_proportion

__all__ = ["detectable_difference", "items_for_margin", "items_to_confirm"]


def detectable_difference(n: int, sd: float, *, alpha: float, power: float = 0.8) -> float | None:
    """The true difference a one-sided level-``alpha`` test over ``n`` paired items detects with
    probability ``power``, for per-item differences with standard deviation ``sd``.

    The standardised effect comes from statsmodels' normal power solver (one sample:
    ``NormalIndPower().solve_power(nobs1=n, ratio=0, alternative="larger")``, i.e.
    ``(z_{1-alpha} + z_power) / sqrt(n)``), scaled by ``sd``. For a paired rate with no change,
    ``sd = sqrt(discordance)`` (the share of items the two runs disagree on). None with no items.

    Examples
    --------
    250 items, 10% of them flipping, alpha 0.05, 80% power: about a 5-point drop.

    >>> round(detectable_difference(250, 0.1 ** 0.5, alpha=0.05), 3)
    0.05
    """
    if n <= 0:
        return None
    effect = NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=alpha, power=power,
                                          ratio=0, alternative="larger")
    return float(effect) * sd if math.isfinite(effect) else None


def items_to_confirm(target: float, expected: float, *, confidence: float, power: float) -> int:
    """Labeled items that show a rate beats ``target`` with ``power`` when it is ``expected``
    (``expected`` on the right side of ``target``): a one-sided test (``NormalIndPower``) on
    Cohen's arcsine effect size (``proportion_effectsize``).

    Examples
    --------
    >>> items_to_confirm(0.9, 0.95, confidence=0.95, power=0.8)
    167
    """
    effect = abs(proportion_effectsize(expected, target))
    n = NormalIndPower().solve_power(effect_size=effect, alpha=1 - confidence, power=power,
                                     ratio=0, alternative="larger")
    return max(1, math.ceil(float(n) - 1e-9))


def items_for_margin(rate: float, margin: float, *, confidence: float) -> int:
    """Labeled items that estimate a rate near ``rate`` within ``± margin``
    (``samplesize_confint_proportion``).

    Examples
    --------
    >>> items_for_margin(0.5, 0.05, confidence=0.95)
    385
    """
    p = min(max(rate, 1e-6), 1 - 1e-6)
    return max(1, math.ceil(float(samplesize_confint_proportion(p, margin, alpha=1 - confidence))
                            - 1e-9))
