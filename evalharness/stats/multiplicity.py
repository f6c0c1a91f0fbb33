"""Family-wise error control over several claims: Holm's step-down procedure (statsmodels)."""

from __future__ import annotations

import gc
from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["holm"]


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Which of ``p_values`` Holm's procedure rejects at family-wise level ``alpha``, and the
    Holm-adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``).

    Every claim whose null is rejected holds with probability at least ``1 - alpha`` jointly
    with the others. An empty family rejects nothing; a family of one is its own test (no call).
    statsmodels' Holm runs a full garbage collection on every call, which walks every live
    object (seconds with a million decisions loaded): the objects alive at the call are frozen
    out of it (``gc.freeze``) and unfrozen after.

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
    gc.freeze()  # the collection multipletests runs then skips every object alive now
    try:
        reject, adjusted, _, _ = multipletests(np.asarray(p_values, dtype=float), alpha=alpha,
                                               method="holm")
    finally:
        gc.unfreeze()
    return [bool(r) for r in reject], [float(p) for p in adjusted]
