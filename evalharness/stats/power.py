"""How small a drop a comparison can see: the minimum detectable difference at a given n."""

from __future__ import annotations

import math

from statsmodels.stats.power import NormalIndPower

__all__ = ["detectable_difference"]


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
