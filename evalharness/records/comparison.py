"""``compare --json``: two runs paired item by item, per policy and decider, and the gate's
verdict."""

from __future__ import annotations

from pydantic import Field

from .base import Record
from .gate import GateResult
from .metrics import Interval, MetricRow

__all__ = ["CompareResult", "DeciderComparison", "FlipCounts", "Flips", "ItemOverlap",
           "MetricDelta", "PolicyComparison", "RunSide", "Transition"]


class MetricDelta(Record):
    """One metric of one decider on one policy, in both runs, and the change."""

    metric: str
    """``accuracy``, ``cohen_kappa``, ``coverage``, ``invalid_rate``, ``precision``, ``recall``,
    ``f1``, ``cost_per_decision_usd``, ``latency_p50_s`` or ``latency_p95_s``."""
    label: str | None = None
    """The label, for precision, recall and F1."""
    base: Interval
    """Value in the base run over the paired items (Wilson interval for rates)."""
    candidate: Interval
    """Value in the candidate run over the same items."""
    diff: Interval
    """candidate - base, with a paired-bootstrap interval over items (null when undefined)."""
    relative: float | None = None
    """diff / base, when base is not zero."""
    p_value: float | None = None
    """McNemar's exact two-sided p-value (accuracy only)."""
    significant: bool | None = None
    """p_value < alpha for accuracy; the diff interval excludes 0 for the others."""
    higher_is_better: bool = True
    """False for invalid rate, cost and latency."""
    n: int = 0
    """Paired items this metric is compared on."""
    drop_bound: float | None = None
    """One-sided upper bound at ``1 - alpha`` of how much worse the candidate is (quality
    metrics): a non-inferiority check passes when it is below the allowed drop."""
    bound_method: str | None = None
    """``newcombe-paired`` or ``paired-bootstrap``."""
    detectable_drop: float | None = None
    """The smallest true drop a one-sided test at ``alpha`` over these ``n`` items detects with
    the comparison's ``power``; a margin below it cannot be told from noise."""

    @property
    def worse_by(self) -> float | None:
        """How much worse the candidate is (positive = a regression), in the metric's units."""
        if self.diff.value is None:
            return None
        return -self.diff.value if self.higher_is_better else self.diff.value


class Transition(Record):
    """Items whose decided label (or outcome) changed the same way."""

    gold: str
    base: str
    """Base run's label, or its outcome when not ok."""
    candidate: str
    n: int
    examples: list[str] = Field(default_factory=list)
    """Up to five item ids."""


class FlipCounts(Record):
    correct_to_wrong: int = 0
    wrong_to_correct: int = 0


class Flips(Record):
    """How decisions moved between the runs (graded paired items only)."""

    correct_to_wrong: int
    """Base right, candidate wrong (McNemar's b)."""
    wrong_to_correct: int
    """Base wrong, candidate right (McNemar's c)."""
    changed: int
    """Items whose label or outcome changed at all (including wrong to another wrong)."""
    by_gold: dict[str, FlipCounts]
    """The two flip directions per gold label."""
    transitions: list[Transition]
    """Every change, most frequent first."""
    correct_to_wrong_examples: list[str] = Field(default_factory=list)
    wrong_to_correct_examples: list[str] = Field(default_factory=list)


class DeciderComparison(Record):
    """One decider on one policy, paired across the two runs."""

    policy: str
    decider: str
    decider_kind: str
    n_paired: int
    """Items this decider decided in both runs."""
    n_graded: int
    """Paired items with a known gold label that is the same in both runs (quality is measured
    on these)."""
    n_only_base: int
    n_only_candidate: int
    n_gold_changed: int = 0
    """Paired items whose gold differs between the runs (left out of quality deltas)."""
    flips: Flips
    deltas: list[MetricDelta]
    candidate_decisions: int
    candidate_cached: int
    """Candidate decisions served from the response cache."""
    candidate_invalid_rate: Interval
    """Share of all the candidate's decisions with outcome ``invalid``."""
    candidate_invalid: int = 0
    """The candidate's decisions with outcome ``invalid``."""
    candidate_metrics: MetricRow | None = None
    """The candidate's metrics over all its items (floors are checked against these)."""

    def delta(self, metric: str, label: str | None = None) -> MetricDelta | None:
        for d in self.deltas:
            if d.metric == metric and d.label == label:
                return d
        return None


class PolicyComparison(Record):
    """One policy: whether its prompt changed, and every decider in both runs."""

    policy: str
    labels: list[str]
    violating: list[str]
    base_version: str | None
    candidate_version: str | None
    base_prompt_hash: str | None
    candidate_prompt_hash: str | None
    prompt_changed: bool
    """The prompt hash differs, so the candidate re-asked every model (no cache reuse expected)."""
    candidate_decisions: int
    candidate_cached: int
    """Candidate decisions of this policy (model deciders) served from the response cache."""
    deciders: list[DeciderComparison]
    deciders_only_in_base: list[str] = Field(default_factory=list)
    deciders_only_in_candidate: list[str] = Field(default_factory=list)

    def decider(self, name: str) -> DeciderComparison | None:
        return next((d for d in self.deciders if d.decider == name), None)


class RunSide(Record):
    """What a compared run is."""

    run_id: str
    path: str
    status: str
    started_at: str | None = None
    config_name: str | None = None
    git_commit: str | None = None
    items: int
    """Distinct items with at least one (non-rater) decision."""
    decisions: int
    cached: int


class ItemOverlap(Record):
    both: int
    only_base: int
    """Items decided in the base run only (left out of the comparison)."""
    only_candidate: int


class CompareResult(Record):
    """``evalharness compare``: two runs paired item by item, and the gate's verdict."""

    schema_version: int = 1
    """Layout version of this record."""
    base: RunSide
    candidate: RunSide
    confidence: float
    """Level of every interval (two-sided)."""
    alpha: float
    """Significance level for ``significant`` flags, and one-sided level of the drop bounds."""
    power: float = 0.8
    """Power of the detectable drops."""
    n_resamples: int
    items: ItemOverlap
    policies: list[PolicyComparison]
    policies_only_in_base: list[str] = Field(default_factory=list)
    policies_only_in_candidate: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    """Anything the reader should know: incomplete runs, changed label sets, left-out items."""
    gate: GateResult | None = None

    def policy(self, pid: str) -> PolicyComparison | None:
        return next((p for p in self.policies if p.policy == pid), None)

    @property
    def passed(self) -> bool:
        """True unless a gate was applied and failed."""
        return self.gate is None or self.gate.passed
