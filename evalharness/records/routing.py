"""``routing.yaml``: the records of a routing plan (schema version 2).

Version 2 (this release) replaced point-estimate target checks by claims with verdicts
(``guaranteed``, ``meets_point_estimate``, ``misses``, ``not_judged``), added production-prevalence
estimates beside the golden-set ones, per-plan item counts, and the family-wise testing method.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .base import Strict
from .metrics import AdjudicationSummary, Interval

__all__ = ["VERDICT_TEXT", "ClaimCheck", "CostCut", "FrontierPoint", "Plan", "PlanMetrics", "PlanTier",
           "PolicyRouting", "QaRequest", "QaSample", "RoutingPlan", "SliceRow", "SplitStats",
           "Status", "ThresholdCheck", "TierShare", "UNKNOWN_SITE", "Verdict"]

SCHEMA_VERSION = 2
UNKNOWN_SITE = "site not recorded"
"""The site a human tier's hours are booked under when its decisions name none."""
Status = Literal["plan_meets_targets", "plan_meets_on_point_estimate", "no_plan_meets_targets"]


Verdict = Literal["guaranteed", "meets_point_estimate", "misses", "not_judged"]


VERDICT_TEXT = {
    "guaranteed": "guaranteed",
    "meets_point_estimate": "meets on the point estimate — not signable",
    "misses": "misses",
    "not_judged": "too few items to judge",
}


class ClaimCheck(Strict):
    """One claim as reported: the estimate on validation items and the verdict."""

    target: str
    """e.g. ``precision of violating calls >= 0.90``."""
    scope: str
    required: float
    direction: Literal["at_least", "at_most"]
    value: Interval
    """Estimate on validation items with its two-sided interval, at ``prevalence``."""
    prevalence: float | None
    """Production prevalence the claim is at; null: the golden set's own."""
    p_value: float | None
    """One-sided p-value of "the target is missed" (exact binomial or score test)."""
    p_holm: float | None
    """Holm-adjusted within its family; null when the claim's family was not tested."""
    family_alpha: float | None
    """Error rate of the family the claim was tested in; null when not tested."""
    verdict: Verdict

    @property
    def guaranteed(self) -> bool:
        return self.verdict == "guaranteed"

    @property
    def verdict_text(self) -> str:
        return VERDICT_TEXT[self.verdict]


class SplitStats(Strict):
    """What one threshold step did on one split (golden-set counts)."""

    seen: int
    """Items that reached the step."""
    unscored: int
    """Of those, items without a score (non-ok outcome or no ``scores``): always escalated."""
    taken: int
    """Items the step auto-decided."""
    share: float | None
    """``taken / seen``."""
    rate: Interval
    """Auto-action: precision (violating share among taken). Auto-clear: violating share among
    taken. On the golden set's own mix (the claims give the production-prevalence values)."""
    violating_seen: int = 0
    """Violating items that reached the step (auto-clear: the recall-loss denominator)."""


class ThresholdCheck(Strict):
    """An auto-action or auto-clear threshold: chosen on calibration, its claims tested on
    validation."""

    decider: str
    kind: str
    side: Literal["auto_action", "auto_clear"]
    threshold: float | None
    """``P(violating)`` cut: auto-action takes ``P >= threshold``, auto-clear ``P <= threshold``;
    null when no threshold is eligible."""
    rule: str
    """The threshold in words, e.g. ``P(hate) >= 0.93``."""
    targets: list[str]
    """What the step claims, e.g. ``precision >= 0.90``."""
    calibration: SplitStats | None
    validation: SplitStats | None
    traffic_share: float | None = None
    """Share of all items the step takes on validation, at the production prevalence when one
    is stated (else the golden set's)."""
    claims: list[ClaimCheck] = Field(default_factory=list)
    """The step's claims on validation items."""
    guaranteed: bool
    """Every claim of the step is guaranteed (tested in its family and held)."""
    message: str
    """Plain-language outcome."""
    slice_flags: list[str] = Field(default_factory=list)
    """Slices (validation items) where this step must not take cases although it may overall."""


class TierShare(Strict):
    """How much of the traffic one tier sees and decides."""

    decider: str
    kind: str
    role: Literal["automated", "last"]
    seen: float
    """Share of all items that reach this tier (each costs this tier's decision)."""
    decided: Interval
    """Share of all items this tier decides (auto-action + auto-clear, or all it sees if last)."""
    auto_action: float | None = None
    """Share of all items auto-actioned here."""
    auto_clear: float | None = None
    """Share of all items auto-cleared here."""
    escalated_unscored: int = 0
    """Items escalated because the decision had no score (non-ok outcome or no ``scores``)."""
    undecided: int = 0
    """Last tier: items whose decision was not ok (invalid, refusal, error) — left undecided."""


class PlanMetrics(Strict):
    """A cascade's end-to-end quality, shares and cost on one split, at one prevalence."""

    basis: Literal["golden_set", "prevalence", "sampling"] = "golden_set"
    """What the numbers are at: the golden set's own mix, a stated prevalence, or the design
    weights of a stratified sample."""
    prevalence: float | None
    """Share of violating items these numbers are at (estimated under ``sampling``); null: the
    golden set's own."""
    n: int
    """Items evaluated."""
    precision: dict[str, Interval]
    """Per label: share of items given the label whose gold is that label."""
    recall: dict[str, Interval]
    """Per label: share of items with that gold label given it (undecided items are misses)."""
    violating_precision: Interval
    """Precision of violating calls (any violating label for gold in any violating label)."""
    violating_recall: Interval
    violating_f1: float | None
    accuracy: Interval
    prevalence_by_label: dict[str, float | None]
    """Per label: share of items whose gold is that label (at this prevalence)."""
    called: dict[str, float | None]
    """Per label: share of items the plan gave that label."""
    violating_called: float | None
    """Share of items the plan gave a violating label (what auto-action and reviewers action)."""
    tiers: list[TierShare]
    undecided: int
    """Items the last tier could not decide (its decision was not ok)."""
    cost_per_decision_usd: float | None
    """Mean over items of the summed cost of every tier that looked at the item (a point
    estimate)."""
    cost_per_day_usd: float | None
    error_cost_per_item_usd: float | None = Field(default=None, exclude_if=lambda v: v is None)
    """Expected cost of the plan's errors per item (``cost_of_false_negative`` per missed
    violating item, ``cost_of_false_positive`` per wrongly actioned one; a point estimate), when
    error costs are set; the search ranks plans by it plus ``cost_per_decision_usd``."""
    human_hours_per_day: dict[str, float | None]
    """Handling hours per day per site (``total`` too); null when handling times are unknown."""


class PlanTier(Strict):
    """One tier of a plan: an automated tier with its thresholds, or the last tier."""

    position: int
    decider: str
    kind: str
    role: Literal["automated", "last"]
    auto_action: ThresholdCheck | None = None
    auto_clear: ThresholdCheck | None = None
    instruction: str
    """What the tier does, in words."""


class Plan(Strict):
    """A cascade with the evidence it is signed on."""

    name: str
    tiers: list[PlanTier]
    items: dict[str, Any]
    """Items this plan is graded on (per split) and those left out of it, by reason."""
    expected: PlanMetrics
    """On validation items, at the golden set's prevalence."""
    production: PlanMetrics | None = None
    """On validation items, at the stated production prevalence (null when none is stated)."""
    calibration: PlanMetrics
    """On calibration items (where thresholds and the plan were chosen; optimistic)."""
    target_checks: list[ClaimCheck]
    """End-to-end and slice targets on validation items."""
    tested: bool
    """The plan was one of those checked on validation (its family got a share of the error
    rate); other plans are evidence only."""
    verdict: Literal["guaranteed", "meets_point_estimate", "misses"]
    """``guaranteed``: every claim (steps and targets) is guaranteed. ``meets_point_estimate``:
    every estimate meets its target, but not every claim is guaranteed — not signable."""

    def claims(self) -> list[ClaimCheck]:
        steps = [c for t in self.tiers for chk in (t.auto_action, t.auto_clear) if chk
                 for c in chk.claims]
        return [*steps, *self.target_checks]


class FrontierPoint(Strict):
    """A cascade on the cost/quality frontier (found on calibration, shown on both splits)."""

    name: str
    cost_per_decision_usd: float
    """On calibration items: the decisions' cost per item, plus the expected cost of errors when
    ``cost_of_false_negative`` / ``cost_of_false_positive`` are set (what the search ranks by)."""
    violating_f1: float
    """On calibration items."""
    violating_precision: float | None
    violating_recall: float | None
    meets_targets_on_calibration: bool
    validation: PlanMetrics


class SliceRow(Strict):
    """The recommended plan within one slice (validation items)."""

    key: str
    value: str
    n: int
    prevalence: float | None
    """The prevalence the slice's rates are at (null: the golden set's)."""
    automated_share: Interval
    """Share of the slice's items decided by automated tiers."""
    violating_precision: Interval
    violating_recall: Interval
    steps: list[dict[str, Any]]
    """Per automated step: items taken in the slice and its precision / violating share there."""
    flags: list[str]
    """Where a tier must not take the slice's cases although it may overall."""
    judged: bool
    """Enough items (``min_slice_items``) to judge."""


class QaSample(Strict):
    """Items QA must label each week to confirm one target."""

    check: str
    """What is measured, e.g. ``precision of tfidf auto-actions``."""
    target: str
    sample_from: str
    """Which stream to draw the sample from."""
    expected: float | None
    """The plan's validation estimate (at production prevalence when stated) the size is
    planned for."""
    items_per_week: int | None
    """Items to sample and label per week; null when the estimate does not beat the target."""
    stream_items_per_week: int
    """Items in that stream per week at the daily volume."""
    feasible: bool
    """The stream has at least that many items a week."""
    note: str


class QaRequest(Strict):
    """The QA sampling that confirms the plan's targets after launch."""

    confidence: float
    power: float
    samples: list[QaSample]
    items_per_week: int
    """Sum over the samples (an upper bound: one labeled item can serve several checks)."""


class CostCut(Strict):
    """What the recommended plan saves against sending every item to human review (an estimate
    with a bootstrap interval, not a guarantee)."""

    versus: str
    """The human decider of the all-human baseline."""
    n: int
    """Validation items both the plan and the human tier decided."""
    plan_cost_per_item_usd: float
    human_cost_per_item_usd: float
    cut: Interval
    """Share of the all-human cost the plan saves, at the production weights when stated."""
    confidence: float
    """Two-sided level of ``cut``'s interval."""


class PolicyRouting(Strict):
    """The routing recommendation for one policy, with its evidence."""

    policy: str
    labels: list[str]
    violating: list[str]
    status: Status
    """``plan_meets_targets``: the recommended plan's every claim is guaranteed.
    ``plan_meets_on_point_estimate``: a plan's validation estimates meet every target, but not
    every claim is guaranteed — evidence, not signable. ``no_plan_meets_targets``: nothing tried
    meets every target; the closest plan is shown."""
    recommendation: str
    """The recommendation in plain words."""
    prevalence: dict[str, Any] | None
    """The production prevalence every production number is at (null: none stated, so every
    number is at the golden set's prevalence, given in ``golden_set_prevalence``)."""
    sampling: dict[str, Any] | None = None
    """The golden set's stratified design, when production numbers are its design-weighted
    estimates (no prevalence stated); claims are then never guaranteed."""
    golden_set_prevalence: float | None
    """Share of violating items among the policy's graded items on this golden set."""
    family_wise: dict[str, Any]
    """How the error rate is shared: method, families, each family's rate."""
    items: dict[str, Any]
    """Items of the policy, per split, and left out of every plan, by reason."""
    targets: dict[str, Any]
    """The targets resolved for this policy."""
    plan: Plan
    tried: list[dict[str, Any]] = Field(default_factory=list)
    """The plans checked on validation, in order, with their verdicts."""
    baselines: list[Plan]
    """Each decider deciding everything (all-human, all-LLM, ...), on validation items."""
    thresholds: list[ThresholdCheck]
    """Each scored decider as the first tier: its auto-action and auto-clear thresholds."""
    frontier: list[FrontierPoint]
    slices: list[SliceRow]
    qa_request: QaRequest
    tier_verdicts: dict[str, str] = Field(default_factory=dict)
    """Per scored decider, in one sentence: which cases it may take as the first tier."""
    cost_cut: CostCut | None = None
    """The plan's saving against all human review (null: no human baseline, or the plan is
    it)."""
    notes: list[str] = Field(default_factory=list)
    searched: int = 0
    """Cascades evaluated on calibration items."""

    def at_prevalence(self) -> str:
        """Which prevalence the numbers are at, in words."""
        if self.prevalence is not None:
            return (f"at the stated production prevalence ({self.prevalence['overall']:.2%} "
                    "violating)")
        if self.sampling is not None:
            return (f"for the population of the golden set's sampling design (design weights by "
                    f"meta.{self.sampling['stratum']}; estimates only: no exact test covers such "
                    "weights)")
        g = self.golden_set_prevalence
        shown = "unknown" if g is None else f"{g:.0%}"
        return (f"at this golden set's prevalence ({shown} violating; no production prevalence "
                "is stated, so these are not production rates)")


class RoutingPlan(BaseModel):
    """``routing.yaml``: the tier-routing plan of a run, per policy, for sign-off."""

    schema_version: int = SCHEMA_VERSION
    """Layout version of this file."""
    run_id: str
    run_dir: str
    created_at: str
    status: Status
    """Worst status over the policies."""
    targets: dict[str, Any]
    """The targets as given (RoutingTargets)."""
    confidence: float
    seed: int
    split: dict[str, Any]
    """How items were split, and that every signed number comes from the validation split."""
    daily_volume: int
    policies: list[PolicyRouting]
    adjudication: AdjudicationSummary | None = Field(default=None, exclude_if=lambda v: v is None)
    """Present when the plan was made against adjudicated gold (``route --adjudicated``): which
    file and version, and how many labels it changed (``moves`` empty)."""
