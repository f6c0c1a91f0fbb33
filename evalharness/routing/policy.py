"""``route_policy``: search, check on validation, and recommend — for one policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from ..records.targets import PolicyPrevalence, RoutingTargets, SamplingDesign
from .cascades import Cascade, simulate
from .data import PolicyData, calibration_mask
from .goals import PolicyGoals, resolve_goals
from .plans import build_plan, first_tier_thresholds
from .qa import qa_request
from .savings import all_human, cost_cut
from .evaluation import plan_metrics
from ..records.routing import FrontierPoint, Plan, PolicyRouting, Status
from .search import Candidates, Views, pareto_frontier, search, shortlist
from .slices import add_slice_flags, slice_rows
from .wording import recommendation_text, tier_verdicts

__all__ = ["route_policy"]

FRONTIER_POINTS = 15


def _golden_prevalence(data: PolicyData) -> float | None:
    return float(data.gold_violating.mean()) if data.n else None


def route_policy(
    data: PolicyData,
    targets: RoutingTargets,
    *,
    slice_keys: Sequence[str] = (),
    prevalence: PolicyPrevalence | None = None,
    sampling: SamplingDesign | None = None,
    actions: Mapping[str, str] | None = None,
) -> PolicyRouting:
    """Search cascades for one policy and recommend the cheapest plan whose claims all hold.

    Thresholds and the short list of plans are chosen on the calibration split; claims are
    tested on the validation split, family-wise (:mod:`evalharness.routing.claims`).
    ``prevalence`` is the run config's, used unless ``targets`` state one for the policy;
    ``sampling`` the run config's design, used when no prevalence is stated; ``actions`` the
    policy's label -> enforcement action, for per-action targets.
    """
    if not data.deciders:
        raise ValueError(f"no decider has decisions for policy {data.policy}")
    if data.n == 0:
        raise ValueError(f"no item of policy {data.policy} has a known QA gold ({data.left_out})")
    goals = resolve_goals(targets, data.policy, prevalence, sampling, actions)
    mask = calibration_mask(data.item_ids, share=targets.calibration_share, seed=targets.seed)
    cal, val = Views(data.take(np.flatnonzero(mask))), Views(data.take(np.flatnonzero(~mask)))
    goals = replace(goals, split_ratio=max(cal.data.n, 1) / max(val.data.n, 1))
    notes: list[str] = []
    if not data.violating:
        notes.append(f"{data.policy} names no violating label: nothing can be auto-actioned")
    if not any(d.scored for d in data.deciders.values()):
        notes.append("no decider gives scores, so no tier can take a threshold: only "
                     "single-decider plans are possible")
    vol = targets.daily_volume
    cands = search(cal, goals, targets.max_automated_tiers, targets.grid_points)
    short = shortlist(cands, goals.plans)
    tried: list[tuple[Cascade, Plan]] = []
    for c in short:
        tried.append((c.cascade, build_plan(cal, val, c.cascade, goals, vol,
                                            family_alpha=goals.family_alpha)))
        if tried[-1][1].verdict == "guaranteed":
            break
    if not short:
        notes.append("No plan's estimates met every target on calibration items, so none was "
                     "checked on validation items.")
    tested = dict(tried)
    baselines = [(c.cascade, tested.get(c.cascade)
                  or build_plan(cal, val, c.cascade, goals, vol, family_alpha=None))
                 for c in cands.baselines()]
    cascade, plan, status = _pick(tried, baselines, cands, cal, val, goals, vol, notes)
    thresholds = first_tier_thresholds(cal, val, goals)
    keys = list(dict.fromkeys([*slice_keys, *(s.key for s in goals.slices)]))
    if keys:
        add_slice_flags(thresholds, val, keys, goals)
    routing = PolicyRouting(
        policy=data.policy, labels=list(data.labels), violating=list(data.violating),
        status=status, recommendation="",
        prevalence=goals.prevalence.model_dump() if goals.prevalence else None,
        sampling=goals.sampling.model_dump() if goals.sampling else None,
        golden_set_prevalence=_golden_prevalence(data),
        family_wise={
            "method": "Bonferroni across families (each validated plan, and the first-tier "
                      "thresholds), Holm within each family",
            "confidence": goals.confidence, "families": goals.families,
            "family_alpha": goals.family_alpha,
            "selection_level_typical_plan": goals.selection_level(goals.typical_claims),
        },
        items={"graded": data.n, "calibration": cal.data.n, "validation": val.data.n,
               "left_out": dict(data.left_out)},
        targets=goals.describe(), plan=plan,
        tried=[{"plan": p.name, "verdict": p.verdict} for _, p in tried],
        baselines=[p for _, p in baselines], thresholds=thresholds,
        frontier=_frontier(cands, val, goals, vol), slices=slice_rows(val, cascade, keys, goals),
        qa_request=qa_request(plan, goals, targets, data.violating), notes=notes,
        searched=len(cands),
    )
    human = all_human(baselines)
    if human is not None:
        routing.cost_cut = cost_cut(val, cascade, human, goals, seed=targets.seed)
    routing.recommendation = recommendation_text(routing, vol)
    sole = plan.tiers[0].decider if len(plan.tiers) == 1 else None
    routing.tier_verdicts = tier_verdicts(thresholds, data.policy, sole_decider=sole)
    return routing


Pair = tuple[Cascade, Plan]


def _pick(tried: list[Pair], baselines: list[Pair], cands: Candidates, cal: Views,
          val: Views, goals: PolicyGoals, vol: int,
          notes: list[str]) -> tuple[Cascade, Plan, Status]:
    """The plan to recommend and the policy's status: the first tried plan whose every claim is
    guaranteed; else the cheapest plan whose estimates meet every target (not signable); else
    the plan that comes closest."""
    for _, p in tried:
        if p.verdict != "guaranteed":
            notes.append(f"{p.name} was checked on validation items and not every claim held "
                         f"({p.verdict.replace('_', ' ')}).")
    chosen = next((pair for pair in tried if pair[1].verdict == "guaranteed"), None)
    if chosen is not None:
        return (*chosen, "plan_meets_targets")

    def cost(pair: Pair) -> float:  # as the search ranks: decisions plus expected errors
        m = pair[1].production or pair[1].expected
        if m.cost_per_decision_usd is None:
            return float("inf")
        return m.cost_per_decision_usd + (m.error_cost_per_item_usd or 0.0)

    options = [*tried, *(b for b in baselines if all(b[0] != t[0] for t in tried))]
    point = sorted((pair for pair in options if pair[1].verdict == "meets_point_estimate"),
                   key=cost)
    if point:
        return (*point[0], "plan_meets_on_point_estimate")
    closest = cands.closest().cascade
    if all(pair[0] != closest for pair in options):
        options.append((closest, build_plan(cal, val, closest, goals, vol, family_alpha=None)))

    def gap(pair: Pair) -> tuple[int, float, float]:
        missed = [c for c in pair[1].claims() if c.verdict == "misses"]
        return len(missed), sum(abs(c.required - (c.value.value or 0.0)) for c in missed), cost(pair)

    return (*min(options, key=gap), "no_plan_meets_targets")


def _frontier(cands: Candidates, val: Views, goals: PolicyGoals, vol: int) -> list[FrontierPoint]:
    out = []
    for c in pareto_frontier(cands)[:FRONTIER_POINTS]:
        view = val(c.cascade.tiers)
        metrics = plan_metrics(view, c.cascade, simulate(view, c.cascade), goals, vol,
                               production=True)
        out.append(FrontierPoint(
            name=c.cascade.name, cost_per_decision_usd=c.cost, violating_f1=c.f1,
            violating_precision=c.precision, violating_recall=c.recall,
            meets_targets_on_calibration=c.meets, validation=metrics))
    return out
