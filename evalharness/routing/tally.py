"""Totals of many cascades at once: the search's fast path on calibration items.

A cascade's end-to-end and slice claims, and its cost, are sums over items of what the tier that
decided each item contributes: per scope, a violating call on a violating and on another item;
and the item's cost in each gold stratum. The items a threshold takes are a run of the items
reaching the step sorted by the decider's P, and a step tries a handful of thresholds: cut at
them, the reaching items fall into a few runs, and each run's contribution is one ``bincount``
of small per-item codes (scope group, the calls it would get, its gold stratum). Every choice of
thresholds of the step, and every last tier after it, is then a sum of a few runs' rows: a step
costs O(items) once, and each cascade O(scopes) in array arithmetic. Counts are exact (integers),
so the claims are the ones :func:`.evaluation.target_claims` makes from a simulation; cost sums
are added in another order than :meth:`.Strata.mean` adds them (equal to about 1e-16).

Per-label targets and sampling designs need the items themselves: with either, the search
simulates each cascade instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..stats.strata import VIOLATING, StratifiedRate
from .cascades import Step
from .claims import Claim
from .data import PolicyData
from .evaluation import Scope, Strata, scope_claims
from .goals import PolicyGoals
from .thresholds import threshold_pairs

__all__ = ["Block", "Columns", "Outcome", "order_totals"]

Thresholds = Callable[[PolicyData, tuple[Step, ...], str, NDArray[np.bool_], NDArray[np.intp]],
                      tuple[list[float], list[float]]]
"""``(view, steps so far, decider, items reaching it, the scored ones by P)`` -> the auto-action
and auto-clear thresholds the step tries."""

Outcome = tuple[list[Claim], float | None, float | None, float | None]
"""A cascade's claims, violating precision, violating recall and cost per item."""


class Columns:
    """One view's per-item codes that cascade totals count: each item's scope group (which
    scopes it is in), its gold stratum, and per decider the calls it would give; and each
    decider's cost per item."""

    def __init__(self, view: PolicyData, goals: PolicyGoals, scopes: Sequence[Scope]) -> None:
        self.view = view
        self.goals = goals
        self.scopes = list(scopes)
        self.strata: list[Strata] = [s.strata(view, goals) for s in self.scopes]
        masks = [np.ones(view.n, dtype=bool) if s.mask is None else s.mask for s in self.scopes]
        member, group = np.unique(np.column_stack(masks), axis=0, return_inverse=True)
        self.member = member.astype(np.int64)
        """Scope group x scope: 1 where the group's items are in the scope."""
        self.y = view.gold_violating.astype(np.intp)
        self._group = group.reshape(-1).astype(np.intp) * 2 + self.y  # group and stratum
        self.width = 2 * len(self.scopes)
        """Count columns: per scope, violating calls on violating items and on other items."""
        self._memo: dict[tuple[str, str], NDArray[np.intp]] = {}

    @property
    def groups(self) -> int:
        return int(self.member.shape[0])

    def order(self, name: str) -> NDArray[np.intp]:
        """Items with a score, by ``name``'s P ascending (stable)."""
        key = ("order", name)
        if key not in self._memo:
            p = self.view.deciders[name].p
            scored = np.flatnonzero(np.isfinite(p))
            self._memo[key] = scored[np.argsort(p[scored], kind="stable")]
        return self._memo[key]

    def step_code(self, name: str) -> NDArray[np.intp]:
        """Per item: (auto-action call violating, auto-clear call violating) x group x stratum."""
        key = ("step", name)
        if key not in self._memo:
            d = self.view.deciders[name]
            calls = self.view.is_violating(d.act) * 2 + self.view.is_violating(d.clear)
            self._memo[key] = calls * (2 * self.groups) + self._group
        return self._memo[key]

    def final_code(self, name: str) -> NDArray[np.intp]:
        """Per item: (last-tier call violating) x group x stratum."""
        key = ("final", name)
        if key not in self._memo:
            calls = self.view.is_violating(self.view.deciders[name].pred).astype(np.intp)
            self._memo[key] = calls * (2 * self.groups) + self._group
        return self._memo[key]

    def counts(self, code: NDArray[np.intp], calls: int, seg: NDArray[np.intp], segments: int,
               items: NDArray[np.intp]) -> NDArray[np.int64]:
        """Per segment, per call value (``calls`` of them), the count columns of ``items`` (each
        in segment ``seg``): ``(segments, calls, width)``."""
        cells = 2 * self.groups
        raw = np.bincount(seg * (calls * cells) + code[items], minlength=segments * calls * cells)
        by_group = raw.reshape(segments, calls, self.groups, 2)[..., ::-1]  # violating first
        return np.einsum("scgy,gi->sciy", by_group, self.member).reshape(
            segments, calls, self.width)

    def costs(self, name: str, seg: NDArray[np.intp], segments: int,
              items: NDArray[np.intp]) -> NDArray[np.float64]:
        """Per segment, ``name``'s cost summed over ``items`` on violating and on other items."""
        out = np.bincount(seg * 2 + (1 - self.y[items]), weights=self.view.deciders[name].cost[items],
                          minlength=segments * 2)
        return out.reshape(segments, 2)

    def outcome(self, totals: Sequence[float]) -> Outcome:
        """Claims, precision, recall and cost of a cascade from its totals (the count columns,
        then cost on violating and on other items)."""
        claims: list[Claim] = []
        rates = []
        for i, (scope, strata) in enumerate(zip(self.scopes, self.strata)):
            v, o = int(totals[2 * i]), int(totals[2 * i + 1])
            precision = strata.across_counts((v, o), numerator=VIOLATING)
            recall = StratifiedRate.within(v, strata.sizes[0])
            rates.append((precision, recall))
            claims += scope_claims(scope, precision, recall, strata.prevalence)
        everything = self.strata[0]
        precision, recall = rates[0]
        n_v, _ = everything.sizes
        errors_v = self.goals.fn_cost * (n_v - totals[0])  # scope 0 is every item
        errors_o = self.goals.fp_cost * totals[1]
        return (claims, precision.value(everything.prevalence), recall.value(),
                everything.mean_of_sums(totals[-2] + errors_v, totals[-1] + errors_o))


@dataclass
class Block:
    """Every choice of thresholds of one order of tiers before one last tier, in the order
    :func:`.search.enumerate_cascades` lists them: thresholds (nan: none) and totals."""

    seq: tuple[str, ...]
    final: str
    action: NDArray[np.float64]
    """Cascade x step: the auto-action threshold."""
    clear: NDArray[np.float64]
    counts: NDArray[np.int64]
    """Cascade x count column (:attr:`Columns.width`)."""
    cost: NDArray[np.float64]
    """Cascade x (cost on violating items, on other items)."""

    def steps(self, row: int) -> tuple[Step, ...]:
        return tuple(Step(name, None if np.isnan(a) else float(a), None if np.isnan(c) else float(c))
                     for name, a, c in zip(self.seq, self.action[row].tolist(),
                                           self.clear[row].tolist()))

    def totals(self, row: int) -> list[float]:
        return [*map(float, self.counts[row]), *self.cost[row].tolist()]


@dataclass
class _Part:
    """Cascades of one last tier found so far (concatenated into a :class:`Block`)."""

    action: list[NDArray[np.float64]]
    clear: list[NDArray[np.float64]]
    counts: list[NDArray[np.int64]]
    cost: list[NDArray[np.float64]]


def _runs(cols: Columns, name: str, reached: NDArray[np.intp], remaining: NDArray[np.bool_],
          actions: list[float], clears: list[float]) -> tuple[
              NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], int]:
    """The items reaching a step cut into runs at its thresholds: the reaching items, each one's
    run (scored items in runs ``0..runs - 2`` by P, unscored ones in the last), and per auto-action
    and per auto-clear threshold (after a first row for none, -1) the index of the cut it makes:
    an auto-action takes the runs after its cut, an auto-clear the runs up to it."""
    ps = cols.view.deciders[name].p[reached]
    at_a = np.searchsorted(ps, actions, side="left")  # takes positions at_a.. (P >= a)
    at_c = np.searchsorted(ps, clears, side="right")  # takes positions ..at_c - 1 (P <= c)
    breaks = np.unique(np.concatenate([at_a, at_c]).astype(np.intp))
    cut = np.zeros(reached.size + 1, dtype=np.intp)
    cut[breaks] = 1
    runs = len(breaks) + 2
    unscored = np.flatnonzero(remaining & ~np.isfinite(cols.view.deciders[name].p))
    items = np.concatenate([reached, unscored])
    seg = np.concatenate([np.cumsum(cut[:-1]), np.full(unscored.size, runs - 1, dtype=np.intp)])
    ia = np.concatenate([[-1], np.searchsorted(breaks, at_a)])
    ic = np.concatenate([[-1], np.searchsorted(breaks, at_c)])
    return items, seg, ia, ic, runs


def order_totals(cols: Columns, seq: tuple[str, ...], finals: dict[str, Columns],
                 thresholds: Thresholds) -> dict[str, Block]:
    """Per last tier in ``finals`` (each with its view's columns; all of the same items), every
    choice of thresholds for the automated tiers ``seq``, with the cascades' totals."""
    view = cols.view
    depth = len(seq)
    parts = {f: _Part([np.zeros((0, depth))], [np.zeros((0, depth))],
                      [np.zeros((0, cols.width), np.int64)], [np.zeros((0, 2))]) for f in finals}
    everyone = np.ones(view.n, dtype=bool)
    none = np.full((1, depth), np.nan)
    if not seq:
        items = np.arange(view.n)
        seg = np.zeros(view.n, dtype=np.intp)
        for f, fc in finals.items():
            parts[f].action.append(none)
            parts[f].clear.append(none)
            parts[f].counts.append(fc.counts(fc.final_code(f), 2, seg, 1, items)[0, 1][None])
            parts[f].cost.append(fc.costs(f, seg, 1, items))

    def rec(j: int, remaining: NDArray[np.bool_], steps: tuple[Step, ...],
            decided: NDArray[np.int64], spent: NDArray[np.float64]) -> None:
        name = seq[j]
        order = cols.order(name)
        reached = order[remaining[order]]
        actions, clears = thresholds(view, steps, name, remaining, reached)
        items, seg, ia, ic, runs = _runs(cols, name, reached, remaining, actions, clears)
        step = cols.counts(cols.step_code(name), 4, seg, runs, items)  # calls (act, clear)
        scored = runs - 1
        # per threshold (row 0: none), what its auto-actions / auto-clears decide: the runs
        # after its break / up to its break
        up = np.concatenate([np.zeros((1, 4, cols.width), np.int64), np.cumsum(step[:scored], 0)])
        act = (up[scored] - up[ia + 1]).reshape(-1, 2, 2, cols.width)[:, 1].sum(axis=1)
        clr = (up[ic + 1]).reshape(-1, 2, 2, cols.width)[:, :, 1].sum(axis=1)
        act[0] = 0
        clr[0] = 0
        here = spent + cols.costs(name, seg, runs, items).sum(axis=0)
        pairs = list(threshold_pairs(actions, clears))
        row_a = {a: i for i, a in enumerate([None, *actions])}
        row_c = {c: i for i, c in enumerate([None, *clears])}
        ra = np.array([row_a[a] for a, _ in pairs], dtype=np.intp)
        rc = np.array([row_c[c] for _, c in pairs], dtype=np.intp)
        a_col = np.array([np.nan if a is None else a for a, _ in pairs])
        c_col = np.array([np.nan if c is None else c for _, c in pairs])
        if j + 1 == depth:
            calls = decided + act[ra] + clr[rc]
            before = [[np.nan if t is None else t for t in (s.action, s.clear)] for s in steps]
            upstream = np.array(before, dtype=np.float64).reshape(-1, 2).T  # (2, steps)
            thr_a = np.column_stack([np.tile(upstream[0], (len(pairs), 1)), a_col])
            thr_c = np.column_stack([np.tile(upstream[1], (len(pairs), 1)), c_col])
            for f, fc in finals.items():
                fin = fc.counts(fc.final_code(f), 2, seg, runs, items)[:, 1]
                fin_cost = fc.costs(f, seg, runs, items)
                up_f = np.concatenate([np.zeros((1, cols.width), np.int64), np.cumsum(fin[:scored], 0)])
                up_fc = np.concatenate([np.zeros((1, 2)), np.cumsum(fin_cost[:scored], 0)])
                lost_a = up_f[scored] - up_f[ia + 1]
                lost_c = up_f[ic + 1]
                lost_a[0] = lost_c[0] = 0
                cost_a = up_fc[scored] - up_fc[ia + 1]
                cost_c = up_fc[ic + 1]
                cost_a[0] = cost_c[0] = 0.0
                parts[f].action.append(thr_a)
                parts[f].clear.append(thr_c)
                parts[f].counts.append(calls + fin.sum(axis=0) - lost_a[ra] - lost_c[rc])
                parts[f].cost.append(here + fin_cost.sum(axis=0) - cost_a[ra] - cost_c[rc])
            return
        p = view.deciders[name].p
        for i, (a, c) in enumerate(pairs):
            took = np.zeros(view.n, dtype=bool)
            if a is not None:
                took |= p >= a  # nan (no score) compares False
            if c is not None:
                took |= p <= c
            rec(j + 1, remaining & ~took, (*steps, Step(name, a, c)),
                decided + act[ra[i]] + clr[rc[i]], here)

    if seq:
        rec(0, everyone, (), np.zeros(cols.width, np.int64), np.zeros(2))
    return {f: Block(seq, f, np.concatenate(q.action), np.concatenate(q.clear),
                     np.concatenate(q.counts), np.concatenate(q.cost)) for f, q in parts.items()}
