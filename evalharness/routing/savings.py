"""What a plan saves against sending every item to human review: the share of the all-human cost
it cuts, with a bootstrap interval over validation items.

The cut is ``1 - mean(plan cost) / mean(all-human cost)`` over the validation items both the plan
and the human tier decided, weighted as production is (a stated prevalence weights the two gold
strata; a sampling design weights its strata). Items are resampled within each stratum
(``scipy.stats.bootstrap`` per stratum, seeded), so the interval reflects which items the
machine tiers would take. It is an estimate with an interval, not a guarantee: a policy owner
signs the quality claims, and reads the saving as evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..records import HUMAN_KINDS, Interval
from ..records.routing import CostCut, Plan
from ..stats.bootstrap import bootstrap_distribution, percentile_bounds
from .cascades import Cascade, simulate
from .evaluation import Strata
from .goals import PolicyGoals
from .search import Views

__all__ = ["all_human", "cost_cut"]

RESAMPLES = 2000


def _both_means(plan: NDArray[np.float64], human: NDArray[np.float64], axis: int = -1
                ) -> NDArray[np.float64]:
    return np.stack([plan.mean(axis=axis), human.mean(axis=axis)])


def _strata(strata: Strata) -> tuple[NDArray[np.object_], dict[str, float]]:
    """Each item's stratum and each stratum's production weight, as ``strata`` weights them."""
    if strata.design is not None:
        labels = strata.design.strata
        present = {h: strata.design.shares[h] for h in set(labels)}
        total = sum(present.values())
        return labels, {h: w / total for h, w in present.items()}
    if strata.prevalence is not None:
        wv, wo = strata.prevalence.weights
        return np.where(strata.violating, "violating", "other").astype(object), {
            "violating": wv, "other": wo}
    return np.full(strata.violating.size, "all", dtype=object), {"all": 1.0}


def cost_cut(val: Views, plan: Cascade, everything_human: Cascade, goals: PolicyGoals,
             seed: int = 0) -> CostCut | None:
    """The plan's cut of the all-human cost on validation items (None when the plan is the
    all-human one, no item is shared, or human review costs nothing)."""
    human = everything_human.tiers[0]
    if plan == everything_human:
        return None
    view = val([*plan.tiers, human])
    if view.n == 0:
        return None
    plan_cost = simulate(view, plan).cost
    human_cost = view.deciders[human].cost
    labels, weights = _strata(Strata.of(view, goals))
    strata = [h for h in sorted(weights) if (labels == h).any()]
    if len(strata) < len(weights):  # a weighted stratum with no item: no production estimate
        return None
    means, draws = [], []
    for i, h in enumerate(strata):
        mask = labels == h
        means.append(np.array([plan_cost[mask].mean(), human_cost[mask].mean()]))
        draws.append(bootstrap_distribution(_both_means, plan_cost[mask], human_cost[mask],
                                            n_resamples=RESAMPLES, seed=seed + i))
    w = np.array([weights[h] for h in strata])
    plan_mean, human_mean = (w[:, None] * np.array(means)).sum(axis=0)
    if human_mean <= 0:
        return None
    resampled = sum(wh * d for wh, d in zip(w, draws))  # shape (2, RESAMPLES)
    with np.errstate(divide="ignore", invalid="ignore"):
        cuts = 1 - resampled[0] / resampled[1]
    low, high = percentile_bounds(cuts, goals.confidence)
    return CostCut(versus=human, n=view.n, plan_cost_per_item_usd=float(plan_mean),
                   human_cost_per_item_usd=float(human_mean),
                   cut=Interval(value=float(1 - plan_mean / human_mean), low=float(low),
                                high=float(high), method="stratified percentile bootstrap"),
                   confidence=goals.confidence)


def all_human(baselines: Sequence[tuple[Cascade, Plan]]) -> Cascade | None:
    """The cheapest baseline that sends every item to a human tier."""
    human = [(c, p) for c, p in baselines if p.tiers[0].kind in HUMAN_KINDS]
    if not human:
        return None
    return min(human, key=lambda cp: (cp[1].expected.cost_per_decision_usd or 0.0))[0]
