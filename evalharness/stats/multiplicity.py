"""Family-wise error control over several claims: Holm's step-down procedure, computed as
statsmodels' ``multipletests(method="holm")`` does (same operations, same floats)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["holm"]


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Which of ``p_values`` Holm's procedure rejects at family-wise level ``alpha``, and the
    Holm-adjusted p-values, step for step as ``statsmodels.stats.multitest.multipletests(
    method="holm")`` computes them (which also runs a full garbage collection on every call: with
    a million decisions in memory that was most of a report's time).

    Every claim whose null is rejected holds with probability at least ``1 - alpha`` jointly
    with the others. An empty family rejects nothing; a family of one is its own test.

    Examples
    --------
    Sorted, the p-values are compared with 0.05/3, 0.05/2 and 0.05/1:

    >>> reject, adjusted = holm([0.01, 0.04, 0.03], 0.05)
    >>> reject, [round(p, 6) for p in adjusted]
    ([True, False, False], [0.03, 0.06, 0.06])
    """
    if not p_values:
        return [], []
    if len(p_values) == 1:
        return [p_values[0] <= alpha], [min(1.0, float(p_values[0]))]
    pvals = np.asarray(p_values, dtype=float)
    order = np.argsort(pvals)
    ranked = np.take(pvals, order)
    steps = np.arange(len(ranked), 0, -1)
    notreject = ranked > alpha / steps
    first = np.nonzero(notreject)[0]
    notreject[first.min() if first.size else len(ranked):] = True
    corrected = np.maximum.accumulate(ranked * steps)
    corrected[corrected > 1] = 1
    reject, adjusted = np.empty_like(notreject), np.empty_like(corrected)
    reject[order], adjusted[order] = ~notreject, corrected
    return [bool(r) for r in reject], [float(p) for p in adjusted]
