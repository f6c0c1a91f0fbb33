"""Totals of many cascades at once: the search's fast path on calibration items.

A cascade's end-to-end and slice claims, and its cost, are sums over items of what the tier that
decided each item contributes: per scope, a violating call on a violating and on another item;
and the item's cost in each gold stratum. The items a threshold takes are a run of the items
reaching the step sorted by the decider's P, so each sum over them is a difference of two prefix
sums, built once per step and set of reaching items: a cascade then costs O(scopes), not
O(items). Counts are exact, so the claims are the ones :func:`.evaluation.target_claims` makes
from a simulation; cost sums are added in another order than :meth:`.Strata.mean` adds them
(equal to about 1e-16).

Per-label targets and sampling designs need the items themselves: with either, the search
simulates each cascade instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from ..stats.strata import VIOLATING, StratifiedRate
from .cascades import Step
from .claims import Claim
from .data import PolicyData
from .evaluation import Scope, Strata, scope_claims
from .goals import PolicyGoals
from .thresholds import threshold_pairs

__all__ = ["Columns", "Outcome", "cascade_totals"]

Thresholds = Callable[[PolicyData, tuple[Step, ...], str, NDArray[np.bool_], NDArray[np.intp]],
                      tuple[list[float], list[float]]]
"""``(view, steps so far, decider, items reaching it, the scored ones by P)`` -> the auto-action
and auto-clear thresholds the step tries."""

Outcome = tuple[list[Claim], float | None, float | None, float | None]
"""A cascade's claims, violating precision, violating recall and cost per item."""


class Columns:
    """One view's per-item columns that cascade totals add up: per scope, violating calls on
    violating and on other items; then cost on violating and on other items (the last two)."""

    def __init__(self, view: PolicyData, goals: PolicyGoals, scopes: Sequence[Scope]) -> None:
        self.view = view
        self.scopes = list(scopes)
        self.strata: list[Strata] = [s.strata(view, goals) for s in self.scopes]
        y = view.gold_violating
        masks = [np.ones(view.n, dtype=bool) if s.mask is None else s.mask for s in self.scopes]
        self._scoped = np.column_stack([m for k in masks for m in (k & y, k & ~y)]).astype(float)
        self._strata = np.column_stack([y, ~y]).astype(float)
        self.width = self._scoped.shape[1] + 2
        self._memo: dict[tuple[str, ...], NDArray[np.float64]] = {}

    def _calls(self, codes: NDArray[np.intp]) -> NDArray[np.float64]:
        return np.hstack([self._scoped * self.view.is_violating(codes)[:, None],
                          np.zeros((self.view.n, 2))])

    def _costs(self, cost: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.hstack([np.zeros_like(self._scoped), self._strata * cost[:, None]])

    def _cached(self, key: tuple[str, ...], build: Callable[[], NDArray[np.float64]]) -> NDArray[np.float64]:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def final(self, name: str) -> NDArray[np.float64]:
        """Per item, what ``name`` adds as the last tier: its calls and its cost."""
        d = self.view.deciders[name]
        return self._cached(("final", name), lambda: self._calls(d.pred) + self._costs(d.cost))

    def reach(self, name: str) -> NDArray[np.float64]:
        """Per item, what reaching ``name`` as a step adds: its cost."""
        return self._cached(("reach", name), lambda: self._costs(self.view.deciders[name].cost))

    def step(self, name: str, final: str) -> NDArray[np.float64]:
        """Per item, side by side: ``name``'s auto-action calls, its auto-clear calls, and what
        ``final`` would have added (taken items no longer reach it). Not kept: one cascade tree
        uses it."""
        d = self.view.deciders[name]
        return np.hstack([self._cached(("act", name), lambda: self._calls(d.act)),
                          self._cached(("clear", name), lambda: self._calls(d.clear)),
                          self.final(final)])

    def order(self, name: str) -> NDArray[np.intp]:
        """Items with a score, by ``name``'s P ascending (stable)."""
        def build() -> NDArray[np.intp]:
            p = self.view.deciders[name].p
            scored = np.flatnonzero(np.isfinite(p))
            return scored[np.argsort(p[scored], kind="stable")]
        return self._cached(("order", name), build)  # type: ignore[return-value]

    def outcome(self, totals: Sequence[float]) -> Outcome:
        """Claims, precision, recall and cost of a cascade from its totals."""
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
        return (claims, precision.value(everything.prevalence), recall.value(),
                everything.mean_of_sums(totals[-2], totals[-1]))


def cascade_totals(cols: Columns, seq: Sequence[str], final: str,
                   thresholds: Thresholds) -> Iterator[tuple[tuple[Step, ...], list[float]]]:
    """Every choice of thresholds for the automated tiers ``seq`` before ``final`` (in the order
    :func:`.search.enumerate_cascades` lists them), with the cascade's totals."""
    view, w = cols.view, cols.width
    fin = cols.final(final)
    everyone = np.ones(view.n, dtype=bool)
    if not seq:
        yield (), fin.sum(axis=0).tolist()
        return
    step_cols = {name: cols.step(name, final) for name in seq}

    def rec(j: int, remaining: NDArray[np.bool_], steps: tuple[Step, ...],
            decided: NDArray[np.float64]) -> Iterator[tuple[tuple[Step, ...], list[float]]]:
        name = seq[j]
        p = view.deciders[name].p
        order = cols.order(name)
        reached = order[remaining[order]]
        actions, clears = thresholds(view, steps, name, remaining, reached)
        ps = p[reached]
        prefix = np.zeros((reached.size + 1, 3 * w))
        np.cumsum(step_cols[name][reached], axis=0, out=prefix[1:])
        # sums over the items each threshold takes (row 0: no threshold): actions take P >= a,
        # clears P <= c; then what the step decides, less what the last tier no longer does
        took_a = prefix[-1] - prefix[np.searchsorted(ps, [np.inf, *actions], side="left")]
        took_c = prefix[np.searchsorted(ps, [-np.inf, *clears], side="right")]
        by_a = took_a[:, :w] - took_a[:, 2 * w:]
        by_c = took_c[:, w:2 * w] - took_c[:, 2 * w:]
        here = decided + cols.reach(name)[remaining].sum(axis=0)
        row_a = {a: i for i, a in enumerate([None, *actions])}
        row_c = {c: i for i, c in enumerate([None, *clears])}
        if j + 1 == len(seq):
            left = here + fin[remaining].sum(axis=0)
            totals = (left + by_a[:, None, :] + by_c[None, :, :]).tolist()
            for a, c in threshold_pairs(actions, clears):
                yield (*steps, Step(name, a, c)), totals[row_a[a]][row_c[c]]
            return
        for a, c in threshold_pairs(actions, clears):
            took = np.zeros(view.n, dtype=bool)
            if a is not None:
                took |= p >= a  # nan (no score) compares False
            if c is not None:
                took |= p <= c
            yield from rec(j + 1, remaining & ~took, (*steps, Step(name, a, c)),
                           here + took_a[row_a[a], :w] + took_c[row_c[c], w:2 * w])

    yield from rec(0, everyone, (), np.zeros(w))
