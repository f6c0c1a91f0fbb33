"""``metrics.json``: metric rows per policy x decider x slice, and human agreement."""

from __future__ import annotations

import operator
from typing import Literal

from pydantic import Field

from .base import Record
from .kinds import DeciderKind

__all__ = ["ActionEnforcement", "AdjudicationSummary", "DeciderMove", "Difference", "HumanAgreement", "Interval", "LabelAgreement",
           "MetricRow", "MetricsFile", "OrdinalMetrics", "ProductionRates", "RaterScore",
           "ReliabilityBin", "ScoreQuality", "SiteScore", "SliceAgreement", "SliceKey"]


class Interval(Record):
    """A point estimate with its 95% interval."""

    value: float | None
    low: float | None = None
    high: float | None = None
    method: str | None = None
    """``wilson``, ``bootstrap``, ``clopper-pearson``, ``paired-bootstrap`` or ``newcombe``."""

    def text(self, digits: int = 2, *, signed: bool = False, undefined: str = "–",
             point: str = "") -> str:
        """The interval as people read it everywhere: ``0.62 [0.55, 0.69]`` (``signed``: with
        ``+``/``-``, for differences); the value and ``point`` when it has no bounds;
        ``undefined`` when it has no value.

        >>> Interval(value=0.625, low=0.55, high=0.69).text(), Interval(value=None).text()
        ('0.62 [0.55, 0.69]', '–')
        >>> Interval(value=-0.1, low=-0.2, high=0.01).text(3, signed=True)
        '-0.100 [-0.200, +0.010]'
        """
        if self.value is None:
            return undefined
        spec = f"{'+' if signed else ''}.{digits}f"
        if self.low is None or self.high is None:
            return f"{self.value:{spec}}{point}"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


class SliceKey(Record):
    key: str
    value: str


class ReliabilityBin(Record):
    """One bin of a reliability diagram: predicted P(violating) against the observed rate."""

    low: float
    """Lower edge of the bin of predicted probability (inclusive)."""
    high: float
    """Upper edge (exclusive, except 1.0 in the last bin)."""
    n: int
    """Scored decisions in the bin."""
    positives: int
    """Of those, decisions whose gold is a violating label."""
    mean_confidence: float | None
    """Mean predicted P(violating) in the bin; null when the bin is empty."""
    observed_rate: float | None
    """``positives / n``; null when the bin is empty."""
    ci_low: float
    """Wilson 95% interval of ``observed_rate`` (0 to 1 when empty)."""
    ci_high: float


class ScoreQuality(Record):
    """Ranking and calibration of P(violating) = sum of ``scores`` over the violating labels.

    Only graded decisions with outcome ``ok`` and ``scores`` are scored; the others (non-ok
    outcomes have no score) are left out and counted in ``n_unscored``.
    """

    violating: list[str]
    """The policy's violating labels whose scores are summed into P(violating)."""
    n_scored: int
    """Graded decisions that carry a score (the denominator of everything below)."""
    n_unscored: int
    """Graded decisions left out because they have no score (non-ok outcome or no ``scores``)."""
    n_positive: int
    """Scored decisions whose gold is a violating label."""
    roc_auc: Interval
    """Area under the ROC curve, with a bootstrap interval over items."""
    average_precision: Interval
    """Area under the precision-recall curve (average precision), bootstrap interval."""
    ece: Interval
    """Expected calibration error over ``reliability`` bins, bootstrap interval."""
    reliability: list[ReliabilityBin]
    """Ten equal-width bins of P(violating)."""


class Difference(Record):
    """An accuracy minus a reference accuracy, with its 95% interval."""

    reference: str
    """The decider (or site) compared against: the one with the highest accuracy."""
    n: int
    """Items graded for both against one gold (paired deciders), or judgments of both sites."""
    difference: Interval
    """This accuracy minus the reference's; method ``paired-bootstrap`` or ``newcombe``."""
    p_value: float | None = None
    """Exact McNemar p-value (paired deciders); null for sites."""
    p_holm: float | None = None
    """Paired deciders: the McNemar p-value adjusted by Holm's procedure over every comparison
    with the same reference (``significant`` uses it)."""
    n_left_out: int = 0
    """Items one side decided but this comparison leaves out (no decision from the other side,
    or no gold both can be graded against)."""
    left_out_reason: str | None = None
    """Why, in words."""
    only_this_right: int | None = None
    """Paired items this decider got right and the reference got wrong."""
    only_reference_right: int | None = None
    """Paired items the reference got right and this decider got wrong."""
    significant: bool
    """Paired deciders: the Holm-adjusted McNemar p-value is below 0.05. Sites: the interval
    excludes 0."""


class ProductionRates(Record):
    """A decider's rates in production: re-weighted to the stated prevalence of violating items,
    or estimated for the population of a stratified sampling design."""

    basis: Literal["prevalence", "sampling"] = "prevalence"
    """``prevalence``: the gold classes weighted to a stated prevalence (exact intervals);
    ``sampling``: design weights of a stratified sample (stratified-bootstrap intervals)."""
    prevalence: float
    """Share of violating items in production these rates are at (under ``sampling``, as the
    design weights estimate it)."""
    violating_precision: Interval
    """Precision of violating calls (score interval for the ratio of two proportions)."""
    violating_recall: Interval
    """Share of violating items called violating (the same at any prevalence)."""
    precision: dict[str, Interval]
    recall: dict[str, Interval]
    accuracy: Interval
    """MOVER interval over the two gold strata."""
    violating_called: Interval
    """Share of production items the decider calls violating (what its actions cost)."""


class MetricRow(Record):
    """Metrics of one decider on one policy over one slice (slice null = all items)."""

    policy: str
    decider: str
    decider_kind: DeciderKind
    slice: SliceKey | None = None
    n: int
    """Decisions with a gold label (the denominator of accuracy)."""
    n_no_gold: int = 0
    """Decisions left out because gold was unknown (e.g. a leave-one-out tie)."""
    labels: list[str]
    """Row order of ``confusion``; its columns are these labels then invalid, refusal, error."""
    confusion: list[list[int]]
    outcomes: dict[str, int]
    accuracy: Interval
    precision: dict[str, Interval]
    recall: dict[str, Interval]
    f1: dict[str, Interval]
    cohen_kappa: float | None
    coverage: Interval
    """Share of decisions with outcome ``ok``."""
    cost_total_usd: float
    cost_per_decision_usd: float | None
    cost_per_correct_usd: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    text_only: int = Field(default=0, exclude_if=operator.not_)
    """Decisions on items with images that this decider cannot see, judged on text alone."""
    score_quality: ScoreQuality | None = None
    """ROC AUC, average precision and calibration, for deciders whose decisions carry ``scores``."""
    accuracy_vs_best: Difference | None = None
    """Paired difference to the most accurate decider on the same policy and slice, on the items
    both decided against one gold; null for the best row itself."""
    best: Literal["point_estimate", "significant"] | None = None
    """Set on the most accurate decider of its policy and slice: ``significant`` when every other
    decider is significantly less accurate after Holm's correction over the comparisons in that
    policy and slice, else ``point_estimate``. Slices are not corrected against each other: their
    labels are exploratory."""
    production: ProductionRates | None = None
    """The rates at the stated production prevalence (null when none is stated)."""
    ordinal: OrdinalMetrics | None = Field(default=None, exclude_if=lambda v: v is None)
    """Weighted κ and under-/over-enforcement by action, for a policy with ordered severities."""

    @property
    def all_errors(self) -> bool:
        """No decision of the row is ok (every one failed, was refused or could not be read)."""
        return self.n > 0 and self.outcomes.get("ok", 0) == 0


class ActionEnforcement(Record):
    """How decisions whose gold calls for one enforcement action were enforced."""

    action: str
    n: int
    """Decisions with a label (outcome ``ok``) whose gold label calls for this action."""
    under: Interval
    """Share of them that called for a milder action (under-enforcement)."""
    over: Interval
    """Share that called for a harsher action (over-enforcement)."""


class OrdinalMetrics(Record):
    """What a policy with ordered severities adds to a row, over its decisions with a label."""

    order: list[str]
    """The labels, least severe first."""
    actions: dict[str, str]
    """Each label's enforcement action."""
    n: int
    """Graded decisions with a label (non-ok outcomes enforce nothing and are left out)."""
    weighted_kappa_linear: float | None
    """Cohen's κ with linear disagreement weights over the severity order (scikit-learn)."""
    weighted_kappa_quadratic: float | None
    """Cohen's κ with quadratic weights: a two-level miss costs four times a one-level one."""
    under: Interval
    """Share of decisions calling for a milder action than gold's."""
    over: Interval
    """Share calling for a harsher action than gold's."""
    by_action: list[ActionEnforcement]
    """Under- and over-enforcement by the action gold calls for, mildest first."""


class RaterScore(Record):
    rater: str
    site: str | None
    n: int
    accuracy: Interval
    n_no_gold: int = 0
    """Judgments without gold (a leave-one-out tie), not graded."""
    handling_seconds: float = 0.0
    """Sum of the rater's handling seconds over all their judgments."""
    cost_total_usd: float = 0.0
    """What the rater's judgments cost (hourly rate x handling time)."""


class SiteScore(Record):
    site: str
    raters: int
    n: int
    accuracy: Interval
    n_no_gold: int = 0
    """Judgments without gold (a leave-one-out tie), not graded."""
    recall: dict[str, Interval] = Field(default_factory=dict)
    """Per gold label: share of the site's judgments of such items that gave that label (Wilson)."""
    handling_seconds: float = 0.0
    """Sum of handling seconds over all the site's judgments."""
    items_per_hour: Interval | None = None
    """Judgments per hour of handling time, ``3600 * judgments / handling_seconds``, with a
    bootstrap interval over judgments."""
    cost_total_usd: float = 0.0
    """What all the site's judgments cost."""
    cost_per_decision_usd: float | None = None
    """``cost_total_usd`` per judgment."""
    cost_per_correct_usd: float | None = None
    """``cost_total_usd`` per graded judgment that matched gold."""
    accuracy_vs_best: Difference | None = None
    """Accuracy minus the best site's (Newcombe interval for two independent proportions)."""


class LabelAgreement(Record):
    """Rater agreement on one label, the label against all the others."""

    label: str
    alpha: Interval
    """Krippendorff's alpha of the binarized ratings (label vs rest), bootstrap interval over items."""
    n_items: int
    """Items with two or more ratings where at least one rater gave this label."""
    n_split: int
    """Of those, items where raters disagree on whether this label applies."""
    rater_recall: Interval
    """Share of graded judgments of items whose gold is this label that gave it (Wilson)."""


class SliceAgreement(Record):
    """How often raters split on the items of one slice."""

    key: str
    value: str
    n_items: int
    """Items of the slice with two or more ratings."""
    n_split: int
    """Of those, items where the raters gave different labels."""
    split_rate: Interval
    """``n_split / n_items`` with a Wilson interval."""
    alpha: float | None
    """Krippendorff's alpha within the slice (null when undefined)."""


class HumanAgreement(Record):
    """How the golden set's raters agree with each other and with QA gold, per policy."""

    policy: str
    decider: str
    krippendorff_alpha: float | None
    n_items: int
    raters: list[RaterScore]
    sites: list[SiteScore]
    rater_accuracy: Interval
    """All rater judgments pooled against (leave-one-out) gold."""
    alpha: Interval | None = None
    """``krippendorff_alpha`` with a bootstrap interval over items."""
    n_split_items: int = 0
    """Items with two or more ratings where the raters gave different labels."""
    labels: list[LabelAgreement] = Field(default_factory=list)
    """Agreement per label (label vs rest), in the policy's label order."""
    slices: list[SliceAgreement] = Field(default_factory=list)
    """Rater splits per slice of the run's ``slice_by`` keys."""
    best_site: str | None = None
    """The site with the highest accuracy, which the others are compared against."""


class DeciderMove(Record):
    """One decider's accuracy on one policy against the original and the adjudicated gold."""

    policy: str
    decider: str
    n: int
    changed: int
    """Of its decisions, those whose gold the verdicts changed."""
    before: Interval
    """Accuracy against the original gold."""
    after: Interval
    """Accuracy against the adjudicated gold."""
    delta: float
    precision: dict[str, tuple[Interval, Interval]] = Field(default_factory=dict)
    """Per violating label: precision against the original gold, then the adjudicated."""
    recall: dict[str, tuple[Interval, Interval]] = Field(default_factory=dict)
    """Per violating label: recall against the original gold, then the adjudicated."""


class AdjudicationSummary(Record):
    """What rescoring against an adjudication file changed."""

    file: str
    version: str
    """``<verdicts>:<sha256 of the file, 12 hex>``: changes whenever a verdict is added."""
    verdicts: int
    changed: dict[str, int] = Field(default_factory=dict)
    """Per policy, (item, policy) golds the verdicts changed among the run's items."""
    not_in_run: int = 0
    """Verdicts on items or policies this run does not have (counted, not applied)."""
    moves: list[DeciderMove] = Field(default_factory=list)


class MetricsFile(Record):
    schema_version: int = 1
    run_id: str
    results: list[MetricRow]
    human_agreement: list[HumanAgreement] = Field(default_factory=list)
    adjudication: AdjudicationSummary | None = Field(default=None, exclude_if=lambda v: v is None)
    """Present when the run was rescored against adjudicated gold (``report --adjudicated``)."""
