"""A simulated cascade on one split: its claims, and its quality, shares and cost.

Every number is available at the golden set's prevalence and, when one is stated, at the
production prevalence (the two gold strata reweighted; see :mod:`evalharness.stats.strata`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ..scoring.production import Rate, label_precision, label_recall
from ..records import Interval
from ..stats.sampling import Design, WeightedRate
from ..stats.strata import OTHER, VIOLATING, Prevalence, StratifiedRate, weighted_share
from .cascades import Cascade, Simulation, simulate
from .claims import Claim
from .data import PolicyData
from .goals import PolicyGoals
from ..records.routing import PlanMetrics, SplitStats, TierShare

__all__ = ["Scope", "Strata", "evaluate_cascade", "plan_metrics", "scope_claims", "split_stats",
           "step_claims", "target_claims", "target_scopes", "traffic_share"]


@dataclass
class Strata:
    """The two gold strata of a set of items (one split of one plan's view, or a slice of it),
    and how production weights them: a prevalence, a sampling design, or neither (the golden
    set's own mix)."""

    violating: NDArray[np.bool_]
    """Gold is violating, per item."""
    prevalence: Prevalence | None
    design: Design | None = None

    @classmethod
    def of(cls, view: PolicyData, goals: PolicyGoals, keep: NDArray[np.bool_] | None = None,
           slice_key: tuple[str, str] | None = None, *, production: bool = True) -> Strata:
        """The strata of ``view``'s items (``keep`` of them), weighted as production is when
        ``production``, else at the golden set's mix."""
        keep = np.ones(view.n, dtype=bool) if keep is None else keep
        violating = view.gold_violating[keep]
        if not production:
            return cls(violating, None)
        design = None
        if goals.sampling is not None:
            key = goals.sampling.stratum
            design = Design.of([view.meta[i].get(key) for i in np.flatnonzero(keep)],
                               goals.sampling.population_shares)
        return cls(violating, goals.weights(slice_key), design)

    @cached_property
    def sizes(self) -> tuple[int, int]:
        v = int(self.violating.sum())
        return v, int(self.violating.size - v)

    def split(self, mask: NDArray[np.bool_]) -> tuple[int, int]:
        """Items of ``mask`` in each stratum."""
        return int((mask & self.violating).sum()), int((mask & ~self.violating).sum())

    def across(self, mask: NDArray[np.bool_], *, numerator: int) -> Rate:
        """Share of ``mask``'s items that are in stratum ``numerator``."""
        if self.design is not None:
            stratum = self.violating if numerator == VIOLATING else ~self.violating
            return WeightedRate(mask & stratum, mask, self.design)
        return self.across_counts(self.split(mask), numerator=numerator)

    def across_counts(self, counts: tuple[int, int], *, numerator: int) -> StratifiedRate:
        """:meth:`across` from the counts of the items in each stratum (no design)."""
        v, o = counts
        n_v, n_o = self.sizes
        if numerator == VIOLATING:
            return StratifiedRate.across(v, n_v, o, n_o, stratum_a=VIOLATING)
        return StratifiedRate.across(o, n_o, v, n_v, stratum_a=OTHER)

    def within(self, num: NDArray[np.bool_], den: NDArray[np.bool_]) -> Rate:
        """Items of ``num`` among those of ``den``, both within one gold stratum."""
        if self.design is not None:
            return WeightedRate(num & den, den, self.design)
        return StratifiedRate.within(int((num & den).sum()), int(den.sum()))

    def share(self, mask: NDArray[np.bool_], confidence: float) -> Interval:
        """Share of all items in ``mask``, at the prevalence (or the design's weights)."""
        if self.design is not None:
            return WeightedRate(mask, np.ones(mask.size, dtype=bool), self.design).interval(
                None, confidence)
        return weighted_share(self.split(mask), self.sizes, self.prevalence, confidence)

    def mean(self, values: NDArray[np.float64]) -> float | None:
        """Mean per item at the prevalence (None when a weighted stratum is empty)."""
        if values.size == 0:
            return None
        if self.design is not None:
            w = self.design.weights
            return float((w * values).sum() / w.sum())
        if self.prevalence is None:
            return float(values.mean())
        return self.mean_of_sums(float(values[self.violating].sum()),
                                 float(values[~self.violating].sum()))

    def mean_of_sums(self, violating: float, other: float) -> float | None:
        """:meth:`mean` from the values' sums over each stratum (no design)."""
        n_v, n_o = self.sizes
        if self.prevalence is None:
            return (violating + other) / (n_v + n_o) if n_v + n_o else None
        if not n_v or not n_o:
            return None
        wv, wo = self.prevalence.weights
        return float(wv * (violating / n_v) + wo * (other / n_o))


def _label_precision(view: PolicyData, strata: Strata, pred: NDArray[np.intp], label: int) -> Rate:
    return label_precision(view.gold, pred, label, len(view.labels), list(view.violating_codes),
                           strata.design)


def _label_recall(view: PolicyData, strata: Strata, pred: NDArray[np.intp], label: int) -> Rate:
    return label_recall(view.gold, pred, label, list(view.violating_codes), strata.design)


def step_claims(view: PolicyData, cascade: Cascade, sim: Simulation, goals: PolicyGoals,
                j: int, side: str) -> list[Claim]:
    """The claims of automated step ``j``'s auto-action or auto-clear on ``view``'s items."""
    step = cascade.steps[j]
    strata = Strata.of(view, goals)
    taken = _taken(sim, j, side)
    scope = f"step {j + 1} ({step.decider} {side.replace('_', '-')})"
    if side == "auto_action":
        assert goals.precision is not None
        return [Claim(f"precision of {step.decider} auto-actions >= {goals.precision:.2f}", scope,
                      "at_least", goals.precision, strata.across(taken, numerator=VIOLATING),
                      strata.prevalence)]
    out = []
    if goals.fn_ceiling is not None:
        out.append(Claim(f"violating share of {step.decider} auto-clears <= {goals.fn_ceiling:.2f}",
                         scope, "at_most", goals.fn_ceiling,
                         strata.across(taken, numerator=VIOLATING), strata.prevalence))
    if goals.recall is not None:
        out.append(Claim(f"share of violating items {step.decider} clears <= {1 - goals.recall:.2f}",
                         scope, "at_most", 1 - goals.recall,
                         strata.within(taken, sim.reached[j] & strata.violating), None))
    return out


@dataclass(frozen=True)
class Scope:
    """The items one pair of precision and recall targets is judged on: all, or a slice."""

    name: str
    """``end to end`` or ``slice <key>=<value>``."""
    slice_key: tuple[str, str] | None
    mask: NDArray[np.bool_] | None
    """The slice's items (None: all)."""
    precision: float | None
    recall: float | None
    judged: bool = True

    def strata(self, view: PolicyData, goals: PolicyGoals) -> Strata:
        return Strata.of(view, goals, self.mask, self.slice_key)


def target_scopes(view: PolicyData, goals: PolicyGoals,
                  masks: dict[tuple[str, str], NDArray[np.bool_]] | None = None) -> list[Scope]:
    """End to end, then each slice a slice target names, in the order their claims are listed."""
    out = [Scope("end to end", None, None, goals.precision, goals.recall)]
    if goals.slices:
        masks = masks if masks is not None else view.slice_masks(sorted({s.key for s in goals.slices}))
        for st in goals.slices:
            chosen = {kv: m for kv, m in masks.items()
                      if kv[0] == st.key and st.value in (None, kv[1])}
            if st.value is not None and not chosen:  # no item of it here: reported, not judged
                chosen = {(st.key, st.value): np.zeros(view.n, dtype=bool)}
            out += [Scope(f"slice {key}={value}", (key, value), mask, st.precision_target,
                          st.recall_target, judged=int(mask.sum()) >= goals.min_slice_items)
                    for (key, value), mask in chosen.items()]
    return out


def target_claims(view: PolicyData, sim: Simulation, goals: PolicyGoals,
                  masks: dict[tuple[str, str], NDArray[np.bool_]] | None = None) -> list[Claim]:
    """End-to-end (and slice) targets of a simulated plan."""
    first, *slices = target_scopes(view, goals, masks)
    out = _scope_claims(view, sim, goals, first)
    out += _label_claims(view, sim, goals)
    for scope in slices:
        out += _scope_claims(view, sim, goals, scope)
    return out


def _scope_claims(view: PolicyData, sim: Simulation, goals: PolicyGoals,
                  scope: Scope) -> list[Claim]:
    keep = np.ones(view.n, dtype=bool) if scope.mask is None else scope.mask
    strata = scope.strata(view, goals)
    called = view.is_violating(sim.pred[keep])
    return scope_claims(scope, strata.across(called, numerator=VIOLATING),
                        strata.within(called, strata.violating), strata.prevalence)


def scope_claims(scope: Scope, precision: Rate, recall: Rate,
                 prevalence: Prevalence | None) -> list[Claim]:
    """Precision of violating calls and recall of violating items in ``scope``, from their rates."""
    out = []
    if scope.precision is not None:
        out.append(Claim(f"precision of violating calls >= {scope.precision:.2f}", scope.name,
                         "at_least", scope.precision, precision, prevalence, scope.judged))
    if scope.recall is not None:
        out.append(Claim(f"recall of violating items >= {scope.recall:.2f}", scope.name,
                         "at_least", scope.recall, recall, None, scope.judged))
    return out


def _label_claims(view: PolicyData, sim: Simulation, goals: PolicyGoals) -> list[Claim]:
    """Per-label targets, end to end."""
    strata = Strata.of(view, goals)
    out = []
    for label, lt in goals.labels.items():
        if label not in view.labels:
            continue
        i = view.labels.index(label)
        if lt.precision is not None:
            out.append(Claim(f"precision of {label} >= {lt.precision:.2f}", "end to end",
                             "at_least", lt.precision, _label_precision(view, strata, sim.pred, i),
                             strata.prevalence))
        if lt.recall is not None:
            out.append(Claim(f"recall of {label} >= {lt.recall:.2f}", "end to end", "at_least",
                             lt.recall, _label_recall(view, strata, sim.pred, i), None))
    return out


def _taken(sim: Simulation, j: int, side: str) -> NDArray[np.bool_]:
    return (sim.tier == j) & (sim.how == (0 if side == "auto_action" else 1))


def traffic_share(view: PolicyData, sim: Simulation, j: int, side: str,
                  goals: PolicyGoals) -> float | None:
    """Share of all items step ``j``'s auto-action or auto-clear takes, at the production
    prevalence when one is stated."""
    return Strata.of(view, goals).share(_taken(sim, j, side), goals.confidence).value


def split_stats(view: PolicyData, cascade: Cascade, sim: Simulation, j: int, side: str,
                confidence: float) -> SplitStats:
    """Golden-set counts of step ``j``'s auto-action or auto-clear."""
    d = view.deciders[cascade.steps[j].decider]
    reached = sim.reached[j]
    taken = _taken(sim, j, side)
    viol = view.gold_violating
    seen = int(reached.sum())
    n = int(taken.sum())
    k = int((taken & viol).sum())
    return SplitStats(seen=seen, unscored=int((reached & ~np.isfinite(d.p)).sum()), taken=n,
                      share=n / seen if seen else None,
                      rate=StratifiedRate.within(k, n).interval(None, confidence),
                      violating_seen=int((reached & viol).sum()))


def plan_metrics(view: PolicyData, cascade: Cascade, sim: Simulation, goals: PolicyGoals,
                 daily_volume: int, *, production: bool) -> PlanMetrics:
    """Quality, tier shares and cost of a simulated cascade, in production (``production``: at
    the stated prevalence or the sampling design's weights) or on the golden set's own mix."""
    conf = goals.confidence
    strata = Strata.of(view, goals, production=production)
    prevalence = strata.prevalence
    pred, gold = sim.pred, view.gold
    called = view.is_violating(pred)
    precision = {lab: _label_precision(view, strata, pred, i).interval(prevalence, conf)
                 for i, lab in enumerate(view.labels)}
    recall = {lab: _label_recall(view, strata, pred, i).interval(prevalence, conf)
              for i, lab in enumerate(view.labels)}
    vp = strata.across(called, numerator=VIOLATING).interval(prevalence, conf)
    vr = strata.within(called, strata.violating).interval(None, conf)
    f1 = (2 * vp.value * vr.value / (vp.value + vr.value)
          if vp.value is not None and vr.value is not None and vp.value + vr.value > 0 else None)
    tiers = []
    for j, name in enumerate(cascade.tiers):
        d = view.deciders[name]
        last = j == len(cascade.steps)
        mine = sim.tier == j
        reached = sim.reached[j]
        tiers.append(TierShare(
            decider=name, kind=d.kind, role="last" if last else "automated",
            seen=strata.share(reached, conf).value or 0.0,
            decided=strata.share(mine, conf),
            auto_action=None if last else strata.share(mine & (sim.how == 0), conf).value,
            auto_clear=None if last else strata.share(mine & (sim.how == 1), conf).value,
            escalated_unscored=0 if last else int((reached & ~np.isfinite(d.p)).sum()),
            undecided=int((mine & (sim.how == 3)).sum()) if last else 0,
        ))
    cost = strata.mean(sim.cost)
    errors = strata.mean(error_costs(view, pred, goals)) if goals.error_costs else None
    weighted = strata.across(np.ones(view.n, dtype=bool), numerator=VIOLATING)
    return PlanMetrics(
        basis="sampling" if strata.design is not None else
        "prevalence" if prevalence is not None else "golden_set",
        prevalence=prevalence.violating if prevalence else
        (weighted.value() if strata.design is not None else None),
        n=view.n, precision=precision, recall=recall,
        violating_precision=vp, violating_recall=vr, violating_f1=f1,
        accuracy=strata.share(pred == gold, conf) if view.n else Interval(value=None),
        prevalence_by_label={lab: strata.share(gold == i, conf).value
                             for i, lab in enumerate(view.labels)},
        called={lab: strata.share(pred == i, conf).value for i, lab in enumerate(view.labels)},
        violating_called=strata.share(called, conf).value,
        tiers=tiers, undecided=int((sim.how == 3).sum()),
        cost_per_decision_usd=cost,
        cost_per_day_usd=None if cost is None else cost * daily_volume,
        error_cost_per_item_usd=errors,
        human_hours_per_day=_hours(sim, strata, daily_volume),
    )


def error_costs(view: PolicyData, pred: NDArray[np.intp], goals: PolicyGoals) -> NDArray[np.float64]:
    """Per item, what the plan's error on it costs: ``fn_cost`` for a violating item it does not
    call violating, ``fp_cost`` for another item it calls violating, else 0."""
    called = view.is_violating(pred)
    violating = view.gold_violating
    return np.where(violating & ~called, goals.fn_cost, np.where(~violating & called,
                                                                 goals.fp_cost, 0.0))


def _hours(sim: Simulation, strata: Strata, daily_volume: int) -> dict[str, float | None]:
    hours: dict[str, float | None] = {}
    human = sim.site != None  # noqa: E711 - elementwise on an object array
    if not human.any():
        return hours
    for s in sorted({str(x) for x in sim.site[human]}):
        secs = np.where(sim.site == s, sim.seconds, 0.0)
        per_item = None if np.isnan(secs).any() else strata.mean(secs)
        hours[s] = None if per_item is None else per_item * daily_volume / 3600
    known = [h for h in hours.values() if h is not None]
    hours["total"] = float(sum(known)) if len(known) == len(hours) else None
    return hours


def evaluate_cascade(data: PolicyData, cascade: Cascade, goals: PolicyGoals, *,
                     daily_volume: int = 10_000, production: bool = False) -> PlanMetrics:
    """End-to-end quality, tier shares and cost of ``cascade`` on ``data`` (graded on the items
    every tier of it decided, against their one gold), on the golden set's mix or, with
    ``production``, as ``goals`` weight production."""
    view = data.for_tiers(cascade.tiers)
    return plan_metrics(view, cascade, simulate(view, cascade), goals, daily_volume,
                        production=production)
