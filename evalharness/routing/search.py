"""The search on calibration items: every cascade worth trying, the cost/quality frontier, and the
short list of plans to check on validation items."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ..stats.binomial import lower_bound, upper_bound
from ..stats.strata import katz_bound
from .candidates import Candidate, Candidates, counted, pareto_frontier, shortlist
from .cascades import Cascade, Step, simulate_lean
from .claims import Claim
from .data import PolicyData
from .evaluation import Strata, error_costs, target_claims, target_scopes
from .goals import PolicyGoals
from .tally import Block, Columns, Outcome, order_totals
from .thresholds import Candidate as Threshold
from .thresholds import Sorted, candidates, spread, threshold_pairs

__all__ = ["Candidate", "Candidates", "Views", "enumerate_cascades", "pareto_frontier", "screens",
           "search", "shortlist", "step_options"]


class Views:
    """One split's :meth:`PolicyData.for_tiers` views, built once per set of tiers."""

    def __init__(self, data: PolicyData) -> None:
        self.data = data
        self._cache: dict[tuple[str, ...], PolicyData] = {}

    def __call__(self, tiers: Sequence[str]) -> PolicyData:
        key = tuple(sorted(set(tiers)))
        if key not in self._cache:
            self._cache[key] = self.data.for_tiers(key)
        return self._cache[key]


@lru_cache(maxsize=200_000)
def _bound(k: int, n: int, level: float, lower: bool) -> float:
    return lower_bound(k, n, level) if lower else upper_bound(k, n, level)


@lru_cache(maxsize=200_000)
def _katz(x_a: int, n_a: int, x_b: int, n_b: int, w_a: float, w_b: float, level: float,
          side: str) -> float:
    return float(katz_bound(x_a, n_a, x_b, n_b, w_a, w_b, level, side))


def screens(claim: Claim, level: float) -> bool:
    """The claim meets its target on calibration items with the selection margin: its one-sided
    bound at ``level`` (exact binomial, or at production prevalence the Katz log interval of the
    ratio of the strata's rates) is on the right side of the target."""
    if not claim.judged:
        return True
    if not claim.point_meets:
        return False
    rate, w = claim.rate, claim.prevalence
    at_least = claim.direction == "at_least"
    if rate.shape not in ("within", "across", "pooled"):  # design weights: the point is all there is
        return True
    if rate.shape == "within" or w is None:
        bound = _bound(rate.k, rate.n, level, at_least) if rate.n else (0.0 if at_least else 1.0)
    elif rate.shape == "across":
        a, b = rate.stratum_a, 1 - rate.stratum_a
        bound = _katz(rate.num[a], rate.size[a], rate.den[b], rate.size[b], w.weights[a],
                      w.weights[b], level, "lower" if at_least else "upper")
    else:  # no test exists at production prevalence: the point estimate is all there is
        return True
    return bound >= claim.required if at_least else bound <= claim.required


def step_options(view: PolicyData, name: str, remaining: NDArray[np.bool_], goals: PolicyGoals,
                 reached: NDArray[np.intp] | None = None,
                 ) -> tuple[Sequence[Threshold], Sequence[Threshold]]:
    """Eligible auto-action and auto-clear thresholds of ``name`` on the items that reach it
    (``remaining``), most items first; ``reached``: the scored ones by P ascending (stable),
    when known."""
    d = view.deciders[name]
    y = view.gold_violating
    sizes = Strata(y, None).sizes
    if reached is None:
        counts = Sorted.of(d.p[remaining], y[remaining])
    else:
        counts = Sorted.of(d.p, y, reached, int(np.count_nonzero(y & remaining)))
    return candidates(counts, goals=goals, sizes=sizes)


class _Thresholds:
    """The thresholds each step tries (:func:`step_options`, spread to ``points``), worked out
    once per content of view and steps before it: views of different last tiers often hold the
    same items."""

    def __init__(self, goals: PolicyGoals, points: int) -> None:
        self.goals, self.points = goals, points
        self._views: dict[int, int] = {}
        self._contents: dict[tuple[object, ...], int] = {}
        self._memo: dict[tuple[int, tuple[Step, ...], str], tuple[list[float], list[float]]] = {}

    def content(self, view: PolicyData) -> int:
        """An id of ``view``'s items and gold (equal for views that hold the same)."""
        if id(view) not in self._views:  # views outlive the search (Views keeps them)
            content = (tuple(view.item_ids), view.gold.tobytes())
            self._views[id(view)] = self._contents.setdefault(content, len(self._contents))
        return self._views[id(view)]

    def __call__(self, view: PolicyData, steps: tuple[Step, ...], name: str,
                 remaining: NDArray[np.bool_],
                 reached: NDArray[np.intp] | None = None) -> tuple[list[float], list[float]]:
        key = (self.content(view), steps, name)
        if key not in self._memo:
            acts, clears = step_options(view, name, remaining, self.goals, reached)
            self._memo[key] = spread(acts, self.points), spread(clears, self.points)
        return self._memo[key]


def _orders(views: Views, max_automated_tiers: int) -> Iterator[tuple[PolicyData, tuple[str, ...], str]]:
    """Baselines (one decider decides everything), then every order of up to
    ``max_automated_tiers`` scored machine tiers before every last tier, with their view."""
    names = list(views.data.deciders)
    scored = [n for n in names if views.data.deciders[n].scored]
    for final in names:
        yield views([final]), (), final
    for depth in range(1, max_automated_tiers + 1):
        for seq in itertools.permutations(scored, depth):
            for final in (f for f in names if f not in seq):
                yield views([*seq, final]), seq, final


def enumerate_cascades(
    views: Views, goals: PolicyGoals, *, max_automated_tiers: int = 2, grid_points: int = 6
) -> Iterator[tuple[Cascade, PolicyData]]:
    """Every cascade worth trying on calibration items, with the view it is graded on: baselines
    (one decider decides everything), then every order of up to ``max_automated_tiers`` scored
    machine tiers with eligible thresholds calibrated on the items that reach each tier, before
    every last tier."""
    thresholds = _Thresholds(goals, grid_points)
    for view, seq, final in _orders(views, max_automated_tiers):
        for steps in _step_combos(view, seq, thresholds):
            yield Cascade(steps, final), view


def _step_combos(view: PolicyData, seq: Sequence[str],
                 thresholds: _Thresholds) -> Iterator[tuple[Step, ...]]:
    def rec(j: int, remaining: NDArray[np.bool_], steps: tuple[Step, ...]) -> Iterator[tuple[Step, ...]]:
        if j == len(seq):
            yield steps
            return
        d = view.deciders[seq[j]]
        finite = np.isfinite(d.p)
        for a, c in threshold_pairs(*thresholds(view, steps, seq[j], remaining)):
            took = np.zeros(view.n, dtype=bool)
            if a is not None:
                took |= finite & (d.p >= a)
            if c is not None:
                took |= finite & (d.p <= c)
            yield from rec(j + 1, remaining & ~took, (*steps, Step(seq[j], a, c)))

    yield from rec(0, np.ones(view.n, dtype=bool), ())


def search(views: Views, goals: PolicyGoals, max_tiers: int, points: int) -> Candidates:
    """Every cascade of :func:`enumerate_cascades`, evaluated on calibration items: from counts
    (:mod:`.tally`, screened over arrays), or by simulating each one when per-label targets or a
    sampling design need the items themselves."""
    if goals.sampling is None and not set(goals.labels) & set(views.data.labels):
        return _counted(views, goals, max_tiers, points)
    return _simulated(views, goals, max_tiers, points)


def _simulated(views: Views, goals: PolicyGoals, max_tiers: int, points: int) -> Candidates:
    """Every cascade simulated item by item (:func:`.cascades.simulate_lean`), its claims
    screened one by one (:func:`screens`)."""
    levels: dict[int, tuple[float, float]] = {}
    out = []
    for cascade, (claims, precision, recall, cost) in _simulations(views, goals, max_tiers, points):
        f1 = (2 * precision * recall / (precision + recall)
              if precision is not None and recall is not None and precision + recall > 0 else 0.0)
        m = len(claims) + sum(
            (s.action is not None) + (s.clear is not None) * ((goals.fn_ceiling is not None)
                                                            + (goals.recall is not None))
            for s in cascade.steps)
        if m not in levels:
            levels[m] = goals.selection_level(m), 1 - goals.family_alpha / max(m, 1)
        selection, test = levels[m]
        meets = all(screens(c, selection) for c in claims)
        likely = meets or all(screens(c, test) for c in claims)
        out.append(Candidate(cascade, float("inf") if cost is None else cost, f1, precision,
                             recall, claims, meets, likely))
    return Candidates.of(out)


def _counted(views: Views, goals: PolicyGoals, max_tiers: int, points: int) -> Candidates:
    """Every cascade's totals (:func:`.tally.order_totals`, one call per order of automated
    tiers and content of view, for all the last tiers after it), then its claims and screening
    over arrays (:func:`.candidates.counted`)."""
    thresholds = _Thresholds(goals, points)
    columns: dict[int, Columns] = {}

    def cols(view: PolicyData) -> Columns:
        if id(view) not in columns:
            columns[id(view)] = Columns(view, goals, target_scopes(view, goals))
        return columns[id(view)]

    listed = list(_orders(views, max_tiers))
    groups: dict[tuple[tuple[str, ...], int], dict[str, PolicyData]] = {}
    for view, seq, final in listed:
        groups.setdefault((seq, thresholds.content(view)), {})[final] = view
    blocks: dict[tuple[tuple[str, ...], str], tuple[Columns, Block]] = {}
    for (seq, _), finals in groups.items():
        first = cols(next(iter(finals.values())))
        found = order_totals(first, seq, {f: cols(v) for f, v in finals.items()}, thresholds)
        blocks.update({(seq, f): (cols(finals[f]), b) for f, b in found.items()})
    levels: dict[int, tuple[float, float]] = {}
    parts = []
    ordered = [blocks[seq, final] for _, seq, final in listed]
    for i, (c, block) in enumerate(ordered):
        parts.append(counted(c, block, goals, i, levels))
    columnar = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    starts = np.cumsum([0] + [b.counts.shape[0] for _, b in ordered])

    def make(i: int) -> Candidate:
        at = int(np.searchsorted(starts, i, side="right")) - 1
        c, block = ordered[at]
        row = i - int(starts[at])
        claims = c.outcome(block.totals(row))[0]
        precision, recall = columnar["precision"][i], columnar["recall"][i]
        return Candidate(Cascade(block.steps(row), block.final), float(columnar["cost"][i]),
                         float(columnar["f1"][i]),
                         None if np.isnan(precision) else float(precision),
                         None if np.isnan(recall) else float(recall), claims,
                         bool(columnar["meets"][i]), bool(columnar["likely"][i]))

    return Candidates(columnar, make)


def _simulations(views: Views, goals: PolicyGoals, max_tiers: int,
                 points: int) -> Iterator[tuple[Cascade, Outcome]]:
    masks: dict[int, dict[tuple[str, str], NDArray[np.bool_]]] = {}
    strata: dict[int, Strata] = {}
    for cascade, view in enumerate_cascades(views, goals, max_automated_tiers=max_tiers,
                                            grid_points=points):
        sim = simulate_lean(view, cascade)
        if id(view) not in strata:
            strata[id(view)] = Strata.of(view, goals)
            if goals.slices:
                masks[id(view)] = view.slice_masks(sorted({s.key for s in goals.slices}))
        claims = target_claims(view, sim, goals, masks.get(id(view)))
        everything = strata[id(view)]
        called = view.is_violating(sim.pred)
        cost = sim.cost + error_costs(view, sim.pred, goals) if goals.error_costs else sim.cost
        yield cascade, (claims,
                        everything.across(called, numerator=0).value(everything.prevalence),
                        everything.within(called, everything.violating).value(),
                        everything.mean(cost))
