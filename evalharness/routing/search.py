"""The search on calibration items: every cascade worth trying, the cost/quality frontier, and the
short list of plans to check on validation items."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ..stats.binomial import lower_bound, upper_bound
from ..stats.strata import katz_bound
from .cascades import Cascade, Step, simulate_lean
from .claims import Claim
from .data import PolicyData
from .evaluation import Strata, target_claims, target_scopes
from .goals import PolicyGoals
from .tally import Columns, Outcome, cascade_totals
from .thresholds import Candidate as Threshold
from .thresholds import Sorted, candidates, spread, threshold_pairs

__all__ = ["Candidate", "Views", "enumerate_cascades", "pareto_frontier", "screens", "search",
           "shortlist", "step_options"]


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


def search(views: Views, goals: PolicyGoals, max_tiers: int, points: int) -> list[Candidate]:
    """Every cascade of :func:`enumerate_cascades`, evaluated on calibration items: from prefix
    sums (:mod:`.tally`), or by simulating each one when per-label targets or a sampling design
    need the items themselves."""
    counted = goals.sampling is None and not set(goals.labels) & set(views.data.labels)
    outcomes = _counted(views, goals, max_tiers, points) if counted else \
        _simulated(views, goals, max_tiers, points)
    levels: dict[int, tuple[float, float]] = {}
    out = []
    for cascade, (claims, precision, recall, cost) in outcomes:
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
    return out


def _counted(views: Views, goals: PolicyGoals, max_tiers: int,
             points: int) -> Iterator[tuple[Cascade, Outcome]]:
    thresholds = _Thresholds(goals, points)
    columns: dict[int, Columns] = {}
    for view, seq, final in _orders(views, max_tiers):
        if id(view) not in columns:
            columns[id(view)] = Columns(view, goals, target_scopes(view, goals))
        cols = columns[id(view)]
        for steps, totals in cascade_totals(cols, seq, final, thresholds):
            yield Cascade(steps, final), cols.outcome(totals)


def _simulated(views: Views, goals: PolicyGoals, max_tiers: int,
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
        yield cascade, (claims,
                        everything.across(called, numerator=0).value(everything.prevalence),
                        everything.within(called, everything.violating).value(),
                        everything.mean(sim.cost))


def _cost_key(c: Candidate) -> tuple[float, float, int]:
    return (round(c.cost, 12), -c.f1, len(c.cascade.steps))


def pareto_frontier(cands: Sequence[Candidate]) -> list[Candidate]:
    """Candidates no other candidate beats on both cost (lower) and violating F1 (higher)."""
    front: list[Candidate] = []
    best = -1.0
    for c in sorted(cands, key=_cost_key):
        if c.f1 > best + 1e-12:
            front.append(c)
            best = c.f1
    return front


def _shape(c: Cascade) -> tuple[object, ...]:
    return (*((s.decider, s.action is not None, s.clear is not None) for s in c.steps), c.final)


def shortlist(cands: Sequence[Candidate], k: int) -> list[Candidate]:
    """Up to ``k`` plans to check on validation, chosen on calibration items only.

    First the plans that meet every target with the margin, cheapest first, the cheapest of each
    shape (tiers, and which of them auto-action or auto-clear), keeping a place for the cheapest
    single-decider plan that does (the fallback that needs no threshold to hold). Places left go
    to plans that meet every target at the test level without the margin, then to plans whose
    calibration estimates merely meet the targets: a place on the list costs nothing but the
    family's share of the error rate, so it is never left empty while something might hold.
    """
    ordered = sorted(cands, key=_cost_key)
    meeting = [c for c in ordered if c.meets]
    baseline = next((c for c in meeting if not c.cascade.steps), None)
    picked: list[Candidate] = []
    shapes: set[tuple[object, ...]] = set()

    def add(c: Candidate) -> None:
        picked.append(c)
        shapes.add(_shape(c.cascade))

    for c in meeting:
        room = k - len(picked)
        reserve = 1 if baseline is not None and baseline not in picked and c is not baseline else 0
        if room == 0:
            break
        if _shape(c.cascade) not in shapes and room - reserve > 0:
            add(c)
    for group in ([c for c in ordered if c.likely and not c.meets],
                  [c for c in ordered if c.point_meets and not c.likely]):
        for c in group:
            if len(picked) < k and _shape(c.cascade) not in shapes:
                add(c)
    return picked
