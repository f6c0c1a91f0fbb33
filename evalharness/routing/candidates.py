"""The searched cascades as columns: what the search knows of each (cost and quality on
calibration items, whether its claims screen), the cost/quality frontier and the short list. A
search tries about a hundred thousand cascades and reads a handful: a :class:`Candidate` is made
only for those."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ..stats.binomial import lower_bound_meets
from ..stats.strata import katz_bound
from .cascades import Cascade
from .claims import Claim
from .goals import PolicyGoals
from .lazy import LazySequence
from .tally import Block, Columns

__all__ = ["Candidate", "Candidates", "counted", "pareto_frontier", "shortlist"]


@dataclass
class Candidate:
    """A cascade as the search saw it on calibration items."""

    cascade: Cascade
    cost: float
    f1: float
    precision: float | None
    recall: float | None
    claims: list[Claim]
    meets: bool
    """Every end-to-end and slice claim screens at the selection level (with the margin)."""
    likely: bool = False
    """Every claim screens at the level it will be tested at, without the margin (about even
    odds of holding on validation)."""

    @property
    def point_meets(self) -> bool:
        return all(c.point_meets for c in self.claims if c.judged)

    @property
    def shortfall(self) -> tuple[int, float]:
        missed = [c for c in self.claims if c.judged and not c.point_meets]
        return len(missed), sum(c.shortfall() for c in missed)


Columnar = dict[str, NDArray[np.generic]]
"""Per cascade: ``cost`` (inf when undefined), ``f1``, ``steps``, ``shape`` (an id of the
cascade's tiers and which of them auto-action or auto-clear), ``meets``, ``likely``,
``point_meets``, ``missed`` and ``shortfall`` (:attr:`Candidate.shortfall`)."""


class Candidates(LazySequence[Candidate]):
    """Every cascade the search tried, in the order it tried them, as columns; indexing makes
    the :class:`Candidate`."""

    def __init__(self, columns: Columnar, make: Callable[[int], Candidate]) -> None:
        self.columns = columns
        self._build = make

    @classmethod
    def of(cls, cands: Sequence[Candidate]) -> Candidates:
        """From candidates already made (a search that simulated each cascade)."""
        shapes: dict[tuple[object, ...], int] = {}
        columns: Columnar = {
            "cost": np.array([c.cost for c in cands], dtype=np.float64),
            "f1": np.array([c.f1 for c in cands], dtype=np.float64),
            "steps": np.array([len(c.cascade.steps) for c in cands], dtype=np.intp),
            "shape": np.array([shapes.setdefault(_shape(c.cascade), len(shapes)) for c in cands],
                              dtype=np.intp),
            "meets": np.array([c.meets for c in cands], dtype=bool),
            "likely": np.array([c.likely for c in cands], dtype=bool),
            "point_meets": np.array([c.point_meets for c in cands], dtype=bool),
            "missed": np.array([c.shortfall[0] for c in cands], dtype=np.intp),
            "shortfall": np.array([c.shortfall[1] for c in cands], dtype=np.float64),
        }
        return cls(columns, lambda i: cands[i])

    def __len__(self) -> int:
        return int(self.columns["cost"].size)

    def _make(self, i: int) -> Candidate:
        return self._build(i)

    @cached_property
    def by_cost(self) -> NDArray[np.intp]:
        """Cascades cheapest first; equal cost (to 1e-12): higher F1, then fewer steps, then the
        order tried."""
        rounded = np.array([round(c, 12) for c in self.columns["cost"].tolist()])
        return np.lexsort((self.columns["steps"], -self.columns["f1"], rounded))

    def baselines(self) -> list[Candidate]:
        """The single-decider cascades, in the order tried."""
        return [self[int(i)] for i in np.flatnonzero(self.columns["steps"] == 0)]

    def closest(self) -> Candidate:
        """The first cascade that misses the fewest judged claims on calibration, by the least
        total shortfall, then cost."""
        c = self.columns
        return self[int(np.lexsort((c["cost"], c["shortfall"], c["missed"]))[0])]


def _shape(c: Cascade) -> tuple[object, ...]:
    return (*((s.decider, s.action is not None, s.clear is not None) for s in c.steps), c.final)


def pareto_frontier(cands: Candidates) -> list[Candidate]:
    """Candidates no other candidate beats on both cost (lower) and violating F1 (higher)."""
    f1 = cands.columns["f1"].tolist()
    front: list[int] = []
    best = -1.0
    for i in cands.by_cost.tolist():
        if f1[i] > best + 1e-12:
            front.append(i)
            best = f1[i]
    return [cands[i] for i in front]


def shortlist(cands: Candidates, k: int) -> list[Candidate]:
    """Up to ``k`` plans to check on validation, chosen on calibration items only.

    First the plans that meet every target with the margin, cheapest first, the cheapest of each
    shape (tiers, and which of them auto-action or auto-clear), keeping a place for the cheapest
    single-decider plan that does (the fallback that needs no threshold to hold). Places left go
    to plans that meet every target at the test level without the margin, then to plans whose
    calibration estimates merely meet the targets: a place on the list costs nothing but the
    family's share of the error rate, so it is never left empty while something might hold.
    """
    col = cands.columns
    ordered = cands.by_cost
    shape, meets, likely = col["shape"], col["meets"], col["likely"]
    meeting = ordered[meets[ordered]].tolist()
    steps = col["steps"]
    baseline = next((i for i in meeting if steps[i] == 0), None)
    picked: list[int] = []
    shapes: set[int] = set()
    for i in meeting:
        room = k - len(picked)
        reserve = 1 if baseline is not None and baseline not in picked and i != baseline else 0
        if room == 0:
            break
        if shape[i] not in shapes and room - reserve > 0:
            picked.append(i)
            shapes.add(int(shape[i]))
    for group in (ordered[likely[ordered] & ~meets[ordered]],
                  ordered[col["point_meets"][ordered] & ~likely[ordered]]):
        for i in group.tolist():
            if len(picked) >= k:
                break
            if shape[i] not in shapes:
                picked.append(i)
                shapes.add(int(shape[i]))
    return [cands[i] for i in picked]


# =============================================================================================
# counted cascades: claims, quality and cost from their totals, over arrays
# =============================================================================================


def _bound_meets(v: NDArray[np.int64], n: NDArray[np.int64], level: float, required: float,
                 shares: tuple[tuple[int, int], tuple[float, float]] | None) -> NDArray[np.bool_]:
    """A precision or recall claim's one-sided bound at ``level`` reaches ``required``: exact
    binomial (``shares`` None), or at production prevalence the Katz bound of the ratio of the
    strata's rates (sizes and weights in ``shares``; ``n`` then counts other items)."""
    if shares is None:
        return lower_bound_meets(v, n, level, required)
    (n_v, n_o), (w_v, w_o) = shares
    bound = katz_bound(v, n_v, n, n_o, w_v, w_o, level, "lower")
    out = bound >= required
    for i in np.flatnonzero(np.abs(bound - required) <= 1e-9):  # decide the edge one by one
        out[i] = float(katz_bound(int(v[i]), n_v, int(n[i]), n_o, w_v, w_o, level, "lower")) \
            >= required
    return out


def counted(cols: Columns, block: Block, goals: PolicyGoals, block_id: int,
            levels: dict[int, tuple[float, float]]) -> Columnar:
    """The :data:`Columnar` columns of a block of counted cascades: each claim of
    :meth:`Columns.outcome` from the totals, screened at the selection level of the cascade's
    number of claims (``meets``) and at its test level (``likely``); ``levels`` memoises those."""
    rows = block.counts.shape[0]
    has_a, has_c = ~np.isnan(block.action), ~np.isnan(block.clear)
    clear_claims = (goals.fn_ceiling is not None) + (goals.recall is not None)
    n_claims = sum((s.precision is not None) + (s.recall is not None) for s in cols.scopes)
    m = n_claims + has_a.sum(axis=1) + has_c.sum(axis=1) * clear_claims
    for k in np.unique(m).tolist():
        if k not in levels:
            levels[k] = goals.selection_level(k), 1 - goals.family_alpha / max(k, 1)
    meets = np.ones(rows, dtype=bool)
    likely = np.ones(rows, dtype=bool)
    point = np.ones(rows, dtype=bool)
    missed = np.zeros(rows, dtype=np.intp)
    shortfall = np.zeros(rows)
    precision = recall = np.full(rows, np.nan)
    for i, (scope, strata) in enumerate(zip(cols.scopes, cols.strata)):
        v, o = block.counts[:, 2 * i], block.counts[:, 2 * i + 1]
        n_v, n_o = strata.sizes
        w = strata.prevalence
        called = v + o
        with np.errstate(invalid="ignore", divide="ignore"):
            if w is None:
                p_value = np.where(called > 0, v / called, np.nan)
            elif n_v == 0 or n_o == 0:
                p_value = np.full(rows, np.nan)
            else:
                first = w.weights[0] * v / n_v
                top, bottom = first + w.weights[1] * 0 / n_o, first + w.weights[1] * o / n_o
                p_value = np.where((called > 0) & (bottom != 0), top / bottom, np.nan)
            r_value = v / n_v if n_v else np.full(rows, np.nan)
        if i == 0:
            precision, recall = p_value, r_value
        claims = []
        if scope.precision is not None:
            shares = None if w is None else ((n_v, n_o), w.weights)
            claims.append((scope.precision, p_value, o if shares else called, shares))
        if scope.recall is not None:
            claims.append((scope.recall, r_value, np.full(rows, n_v), None))
        if not scope.judged:
            continue
        for required, value, n, shares in claims:
            ok = value >= required - 1e-12  # nan (undefined) compares False
            point &= ok
            missed += ~ok
            shortfall += np.where(ok, 0.0, np.where(np.isnan(value), 1.0,
                                                    np.maximum(0.0, required - value)))
            for k in np.unique(m[ok]).tolist():
                at = np.flatnonzero(ok & (m == k))
                selection, test = levels[k]
                meets[at] &= _bound_meets(v[at], n[at], selection, required, shares)
                likely[at] &= _bound_meets(v[at], n[at], test, required, shares)
            meets &= ok
            likely &= ok
    likely |= meets
    with np.errstate(invalid="ignore"):
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / total, 0.0)  # nan compares False
    everything = cols.strata[0]
    n_v, n_o = everything.sizes
    c_v, c_o = block.cost[:, 0], block.cost[:, 1]
    if goals.error_costs:  # scope 0 is every item: v violating called, o others called
        c_v = c_v + goals.fn_cost * (n_v - block.counts[:, 0])
        c_o = c_o + goals.fp_cost * block.counts[:, 1]
    if everything.prevalence is None:
        cost = (c_v + c_o) / (n_v + n_o) if n_v + n_o else np.full(rows, np.inf)
    elif not n_v or not n_o:
        cost = np.full(rows, np.inf)
    else:
        wv, wo = everything.prevalence.weights
        cost = wv * (c_v / n_v) + wo * (c_o / n_o)
    patterns = (has_a * 2 + has_c) @ (4 ** np.arange(len(block.seq), dtype=np.intp))
    return {"cost": cost, "f1": f1, "steps": np.full(rows, len(block.seq), dtype=np.intp),
            "shape": block_id * 4 ** len(block.seq) + patterns, "meets": meets,
            "likely": likely, "point_meets": point, "missed": missed, "shortfall": shortfall,
            "precision": precision, "recall": recall}
