"""Candidate thresholds on calibration items: the one threshold-selection path of routing.

A decider with ``scores`` gives ``P(violating)``. Auto-action takes items with ``P >= t``;
auto-clear takes items with ``P <= t``. On calibration items a threshold is *eligible* when its
targets hold there with a margin (bounds at :meth:`PolicyGoals.selection_level`), so that it is
likely to hold again on validation items. Eligibility only decides what is tried: every claim is
then tested on validation items (:mod:`.claims`), so the screening may use a fast approximation —
at production prevalence the Katz log interval for the ratio of two proportions, with 0.5 added
to every count — without touching the guarantee.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ..stats.binomial import lower_bound_cutoffs, upper_bound_cutoffs
from ..stats.strata import Prevalence, katz_bound
from .goals import PolicyGoals
from .lazy import LazySequence

__all__ = ["Sorted", "action_candidates", "candidates", "clear_candidates", "spread",
           "threshold_pairs"]

Candidate = tuple[float, int, int]
"""``(threshold, items taken, violating items among them)``."""


@dataclass(frozen=True)
class Sorted:
    """Scored items of a step sorted by P ascending (stable), with what every threshold over them
    counts: shared by the auto-action and auto-clear candidates."""

    ps: NDArray[np.float64]
    """P of the scored items, ascending."""
    prefix: NDArray[np.intp]
    """``prefix[i]``: violating items among the ``i`` lowest scores."""
    starts: NDArray[np.intp]
    """Where each distinct P begins in ``ps``."""
    violating: int
    """Violating items reaching the step, scored or not."""

    @classmethod
    def of(cls, p: NDArray[np.float64], y: NDArray[np.bool_],
           reached: NDArray[np.intp] | None = None, violating: int | None = None) -> Sorted:
        """From scores and gold of the items reaching a step; or, given ``reached`` (the scored
        items reaching it, by P ascending, stable) and the ``violating`` items reaching it, from
        a whole view's scores and gold."""
        if reached is None:
            scored = np.flatnonzero(np.isfinite(p))
            reached = scored[np.argsort(p[scored], kind="stable")]
            violating = int(np.count_nonzero(y))
        assert violating is not None
        ps = p[reached]
        prefix = np.zeros(ps.size + 1, dtype=np.intp)
        np.cumsum(y[reached], out=prefix[1:])
        new = np.ones(ps.size, dtype=bool)
        np.not_equal(ps[1:], ps[:-1], out=new[1:])
        return cls(ps, prefix, np.flatnonzero(new), violating)

    @property
    def uniq(self) -> NDArray[np.float64]:
        return self.ps[self.starts]


@lru_cache(maxsize=64)
def _cutoffs(n_max: int, level: float, target: float, lower: bool) -> NDArray[np.intp]:
    """Bound cutoffs for every count of items up to ``n_max`` (a search asks for the same few)."""
    n = np.arange(n_max + 1)
    out = lower_bound_cutoffs(n, level, target) if lower else upper_bound_cutoffs(n, level, target)
    out.flags.writeable = False
    return out


def _weighted_share(k: NDArray[np.float64], n: NDArray[np.float64], sizes: tuple[int, int],
                    w: Prevalence, level: float, side: str) -> NDArray[np.float64]:
    """Screening bound of the violating share among ``n`` taken items of which ``k`` violating."""
    return katz_bound(k, sizes[0], n - k, sizes[1], w.weights[0], w.weights[1], level, side)


def _share_point(k: NDArray[np.float64], n: NDArray[np.float64], sizes: tuple[int, int],
                 w: Prevalence | None) -> NDArray[np.float64]:
    if w is None:
        return k / np.maximum(n, 1)
    n_v, n_o = max(sizes[0], 1), max(sizes[1], 1)
    a = w.weights[0] * k / n_v
    b = w.weights[1] * (n - k) / n_o
    return a / np.maximum(a + b, 1e-300)


def candidates(s: Sorted, *, goals: PolicyGoals,
               sizes: tuple[int, int]) -> tuple[Sequence[Candidate], Sequence[Candidate]]:
    """:func:`action_candidates` and :func:`clear_candidates` from one sort of the scores."""
    return _actions(s, goals, sizes), _clears(s, goals, sizes)


def action_candidates(p: NDArray[np.float64], y: NDArray[np.bool_], *, goals: PolicyGoals,
                      sizes: tuple[int, int]) -> Sequence[Candidate]:
    """Eligible auto-action thresholds, most items first. ``p``, ``y``: scores and gold
    (violating) of the items that reach the step; ``sizes``: violating and other items of the
    whole split (what prevalence weights scale)."""
    return _actions(Sorted.of(p, y), goals, sizes)


def clear_candidates(p: NDArray[np.float64], y: NDArray[np.bool_], *, goals: PolicyGoals,
                     sizes: tuple[int, int]) -> Sequence[Candidate]:
    """Eligible auto-clear thresholds, most items first: the violating share of cleared items
    stays under the false-negative ceiling and (with a recall target) the share of the violating
    items reaching the step that get cleared stays under ``1 - recall``. With neither target,
    nothing is eligible."""
    return _clears(Sorted.of(p, y), goals, sizes)


def _actions(s: Sorted, goals: PolicyGoals, sizes: tuple[int, int]) -> Sequence[Candidate]:
    if goals.precision is None or s.ps.size == 0:
        return []
    n_int = s.ps.size - s.starts
    k_int = s.prefix[-1] - s.prefix[s.starts]
    n, k = n_int.astype(np.float64), k_int.astype(np.float64)
    w = goals.weights()
    level = goals.selection_level(goals.typical_claims)
    ok = _share_point(k, n, sizes, w) >= goals.precision
    if w is None:  # the exact bound reaches the target: k at least its cutoff for n
        cut = _cutoffs(max(sum(sizes), s.ps.size), level, goals.precision, True)
        ok[ok] = k_int[ok] >= cut[n_int[ok]]
    else:
        ok[ok] = _weighted_share(k[ok], n[ok], sizes, w, level, "lower") >= goals.precision
    return _Listed(s.uniq[ok], n[ok], k[ok])


def _clears(s: Sorted, goals: PolicyGoals, sizes: tuple[int, int]) -> Sequence[Candidate]:
    if (goals.fn_ceiling is None and goals.recall is None) or s.ps.size == 0:
        return []
    stop = np.append(s.starts[1:], s.ps.size)
    k_int = s.prefix[stop]
    n, k = stop.astype(np.float64), k_int.astype(np.float64)
    ok = np.ones(stop.size, dtype=bool)
    level = goals.selection_level(goals.typical_claims)
    if goals.fn_ceiling is not None:
        w = goals.weights()
        ok &= _share_point(k, n, sizes, w) <= goals.fn_ceiling
        if w is None:  # the exact bound stays under the ceiling: k at most its cutoff for n
            cut = _cutoffs(max(sum(sizes), s.ps.size), level, goals.fn_ceiling, False)
            ok[ok] = k_int[ok] <= cut[stop[ok]]
        else:
            ok[ok] = _weighted_share(k[ok], n[ok], sizes, w, level, "upper") <= goals.fn_ceiling
    if goals.recall is not None:
        # violating items reaching the step include unscored ones: clearing loses recall of all
        total = s.violating
        lost_max = 1 - goals.recall
        ok &= (total > 0) & (k <= lost_max * total)
        if total > 0:
            ok &= k_int <= upper_bound_cutoffs([total], level, lost_max)[0]
    return _Listed(s.uniq[ok][::-1], n[ok][::-1], k[ok][::-1])


class _Listed(LazySequence[Candidate]):
    """Candidates as ``(float, int, int)`` tuples, made from the arrays only when read (a search
    reads a handful of thousands)."""

    def __init__(self, t: NDArray[np.float64], n: NDArray[np.float64], k: NDArray[np.float64]) -> None:
        self._t, self._n, self._k = t, n, k

    def __len__(self) -> int:
        return int(self._t.size)

    def _make(self, i: int) -> Candidate:
        return float(self._t[i]), int(self._n[i]), int(self._k[i])


def spread(cands: Sequence[Candidate], points: int) -> list[float]:
    """Up to ``points`` thresholds from eligible candidates (ordered most items first), always
    including the one that takes the most items."""
    if not cands or points <= 0:
        return []
    idx = sorted({int(round(x)) for x in np.linspace(0, len(cands) - 1, min(points, len(cands)))})
    return [cands[i][0] for i in idx]


def threshold_pairs(actions: list[float], clears: list[float]) -> Iterator[tuple[float | None, float | None]]:
    """The (auto-action, auto-clear) thresholds a step tries, in order, from the ones
    :func:`spread` picked: each or none, never neither (a tier that decides nothing only adds
    cost), and clearing only below where it actions."""
    for a in [None, *actions]:
        for c in [None, *clears]:
            if (a is None and c is None) or (a is not None and c is not None and c >= a):
                continue
            yield a, c
