"""The targets that apply to one policy, and how the error rate is shared among its claims."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from ..stats.strata import Prevalence
from ..records.targets import (
    LabelTargets,
    PolicyPrevalence,
    RoutingTargets,
    SamplingDesign,
    SliceTargets,
)

__all__ = ["PolicyGoals", "resolve_goals", "selection_confidence"]


@dataclass(frozen=True)
class PolicyGoals:
    """One policy's targets after per-policy overrides, with the testing settings."""

    precision: float | None
    recall: float | None
    fn_ceiling: float | None
    labels: dict[str, LabelTargets]
    slices: tuple[SliceTargets, ...]
    confidence: float
    min_slice_items: int
    prevalence: PolicyPrevalence | None = None
    """Production prevalence; None: the golden set's own (or the sampling design's)."""
    sampling: SamplingDesign | None = None
    """The golden set's stratified design, when no prevalence is stated: production numbers are
    design-weighted estimates (never guarantees)."""
    plans: int = 2
    """Plans checked on validation items (``validation_plans``)."""
    selection_power: float = 0.8
    """Chance a claim chosen on calibration holds on validation if it performs there alike."""
    split_ratio: float = 1.0
    """Calibration items per validation item."""
    fn_cost: float = 0.0
    """USD per violating item the plan does not call violating."""
    fp_cost: float = 0.0
    """USD per other item the plan calls violating."""

    @property
    def error_costs(self) -> bool:
        return bool(self.fn_cost or self.fp_cost)

    def selection_level(self, claims: int) -> float:
        """Level of the calibration bounds a threshold or plan with ``claims`` claims must pass to
        be tried on validation: each claim is tested at its Bonferroni share of the family's rate
        (Holm's first step), with the margin of :func:`selection_confidence`."""
        return selection_confidence(1 - self.family_alpha / max(claims, 1), self.selection_power,
                                    self.split_ratio)

    @property
    def typical_claims(self) -> int:
        """Claims of a typical plan: its end-to-end targets and two step claims (the level
        thresholds are screened at)."""
        n = sum(t is not None for t in (self.precision, self.recall)) + 2
        return n + sum((lt.precision is not None) + (lt.recall is not None)
                       for lt in self.labels.values())

    @property
    def families(self) -> int:
        """Families of claims sharing the error rate: each validated plan, and the first-tier
        thresholds of every decider."""
        return self.plans + 1

    @property
    def family_alpha(self) -> float:
        """Error rate of one family (Bonferroni over the families; Holm within each)."""
        return (1 - self.confidence) / self.families

    @property
    def production(self) -> bool:
        """Production numbers differ from the golden set's (a prevalence or a design is stated)."""
        return self.prevalence is not None or self.sampling is not None

    def weights(self, slice_key: tuple[str, str] | None = None) -> Prevalence | None:
        """The prevalence items are weighted to, overall or within one slice."""
        if self.prevalence is None:
            return None
        if slice_key is None:
            return Prevalence(self.prevalence.overall)
        return Prevalence(self.prevalence.for_slice(*slice_key))

    def describe(self) -> dict[str, Any]:
        return {
            "precision_target": self.precision,
            "recall_target": self.recall,
            "auto_clear_max_violating": self.fn_ceiling,
            "labels": {k: v.model_dump(exclude_none=True) for k, v in self.labels.items()},
            "slices": [s.model_dump(exclude_none=True) for s in self.slices],
            "prevalence": self.prevalence.model_dump() if self.prevalence else None,
            "cost_of_false_negative": self.fn_cost,
            "cost_of_false_positive": self.fp_cost,
        }


def selection_confidence(confidence: float, power: float, ratio: float) -> float:
    """Level of the calibration bound that makes a claim hold on validation with ``power``.

    With ``ratio`` = calibration items / validation items (rho), a threshold or plan is tried on
    validation when its one-sided bound on calibration items at level
    ``Phi(z_c sqrt(rho) + z_p sqrt(1 + rho))`` meets the target. Then, if it performs on
    validation as on calibration, the validation bound at ``confidence`` meets the target with
    probability about ``power`` (normal approximation; ``z_c``, ``z_p`` the normal quantiles of
    ``confidence`` and ``power``). Without this margin a choice made at the edge holds on
    validation only about half the time. It changes power only, never the guarantee.

    Examples
    --------
    >>> round(selection_confidence(0.95, 0.8, 1.0), 4)
    0.9977
    """
    nd = NormalDist()
    z_c, z_p = nd.inv_cdf(confidence), nd.inv_cdf(power)
    rho = max(ratio, 1e-9)
    return min(1 - 1e-9, nd.cdf(z_c * math.sqrt(rho) + z_p * math.sqrt(1 + rho)))


def resolve_goals(targets: RoutingTargets, policy: str,
                  prevalence: PolicyPrevalence | None = None,
                  sampling: SamplingDesign | None = None,
                  actions: Mapping[str, str] | None = None) -> PolicyGoals:
    """Top-level targets, with ``targets.policies[policy]`` keys that were given replacing them;
    ``prevalence`` (e.g. from the run config) unless the targets state one for the policy; the
    run's ``sampling`` design when no prevalence is stated. ``actions`` (the policy's label ->
    enforcement action) turns per-action targets into targets of each label calling for the
    action, the stricter one where a label has its own."""
    values: dict[str, Any] = {
        "precision_target": targets.precision_target,
        "recall_target": targets.recall_target,
        "auto_clear_max_violating": targets.auto_clear_max_violating,
    }
    labels = dict(targets.labels)
    override = targets.policies.get(policy)
    if override is not None:
        for key in values:
            value = getattr(override, key)
            if value is not None:
                values[key] = None if value == "off" else value
        labels.update(override.labels)
    by_action = {**targets.actions, **(override.actions if override else {})}
    for label, action in (actions or {}).items():
        if action in by_action:
            labels[label] = _stricter(labels.get(label), by_action[action])
    fn_cost = (override.cost_of_false_negative if override and
               override.cost_of_false_negative is not None else targets.cost_of_false_negative)
    fp_cost = (override.cost_of_false_positive if override and
               override.cost_of_false_positive is not None else targets.cost_of_false_positive)
    return PolicyGoals(
        precision=values["precision_target"],
        recall=values["recall_target"],
        fn_ceiling=values["auto_clear_max_violating"],
        labels=labels,
        slices=tuple(s for s in targets.slices if s.policy in (None, policy)),
        confidence=targets.confidence,
        min_slice_items=targets.min_slice_items,
        prevalence=(stated := targets.prevalence.get(policy, prevalence)),
        sampling=None if stated is not None else sampling,
        plans=targets.validation_plans,
        selection_power=targets.selection_power,
        fn_cost=fn_cost,
        fp_cost=fp_cost,
    )


def _stricter(mine: LabelTargets | None, other: LabelTargets) -> LabelTargets:
    """Each target the higher of the two (one left out: the other)."""
    if mine is None:
        return other
    pick = {key: max(v for v in (getattr(mine, key), getattr(other, key)) if v is not None)
            for key in ("precision", "recall")
            if getattr(mine, key) is not None or getattr(other, key) is not None}
    return LabelTargets(**pick)
