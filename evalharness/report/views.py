"""What both reports show, gathered once per policy: rows, the best decider, the human ceiling."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..records import HUMAN_KINDS, OUTCOMES_NOT_OK, HumanAgreement, Manifest, MetricRow, MetricsFile, PolicyInfo
from ..scoring.rootcause import PolicyCauses


@dataclass
class PolicyView:
    """One policy's rows and blocks, in report order."""

    policy: str
    info: PolicyInfo | None
    overall: list[MetricRow]
    """One row per decider over all items, in run order."""
    slices: dict[str, list[MetricRow]]
    """Slice rows by slice key."""
    agreement: list[HumanAgreement]
    causes: PolicyCauses | None
    best: MetricRow | None = None
    """The most accurate decider (what ``accuracy_vs_best`` compares with)."""
    labels: list[str] = field(default_factory=list)

    @property
    def ceiling(self) -> HumanAgreement | None:
        """The rater reference shown beside every model's score."""
        return self.agreement[0] if self.agreement else None

    @property
    def scored(self) -> list[MetricRow]:
        return [r for r in self.overall if r.score_quality is not None]

    @property
    def models(self) -> list[MetricRow]:
        return [r for r in self.overall if r.decider_kind not in HUMAN_KINDS]


def policy_views(
    metrics: MetricsFile, manifest: Manifest, causes: dict[str, PolicyCauses] | None = None
) -> list[PolicyView]:
    """One view per policy, in the order the policies first appear in ``metrics.results``."""
    rows: dict[str, list[MetricRow]] = defaultdict(list)
    for r in metrics.results:
        rows[r.policy].append(r)
    views = []
    for policy, policy_rows in rows.items():
        overall = [r for r in policy_rows if r.slice is None]
        slices: dict[str, list[MetricRow]] = defaultdict(list)
        for r in policy_rows:
            if r.slice is not None:
                slices[r.slice.key].append(r)
        best = next((r for r in overall if r.best is not None), None)
        views.append(PolicyView(
            policy=policy,
            info=manifest.policies.get(policy),
            overall=overall,
            slices=dict(slices),
            agreement=[a for a in metrics.human_agreement if a.policy == policy],
            causes=(causes or {}).get(policy),
            best=best,
            labels=overall[0].labels if overall else [],
        ))
    return views


def decider_notes(v: PolicyView, manifest: Manifest) -> list[str]:
    """What a reader must know of how the policy's deciders were asked: a bundle's shared call,
    and items with images judged on their text alone."""
    notes = []
    for d in manifest.deciders:
        if d.get("bundle") and v.policy in (d.get("bundle_policies") or []):
            k = len(d["bundle_policies"])
            notes.append(f"{d['name']} was asked this policy in bundle {d['bundle']}, with "
                         f"{k - 1} other policies in one call per item; its cost per decision "
                         f"is 1/{k} of that call.")
    notes += [f"{r.decider} cannot see images: {r.text_only} of its {r.n + r.n_no_gold} "
              "decisions were on items with images, judged on their text alone."
              for r in v.overall if r.text_only]
    return notes


def golden_prevalence(v: PolicyView) -> str:
    """Share of the policy's graded items whose gold is violating, on this golden set."""
    row = next((r for r in v.overall if r.n), None)
    if row is None or v.info is None:
        return "unknown"
    viol = sum(sum(counts) for label, counts in zip(row.labels, row.confusion)
               if label in v.info.violating)
    return f"{viol / row.n:.0%}"


def not_ok(row: MetricRow) -> dict[str, int]:
    """Counts of the non-ok outcomes that occurred (empty when every decision was ok)."""
    return {o: row.outcomes.get(o, 0) for o in OUTCOMES_NOT_OK if row.outcomes.get(o, 0)}


def n_judgments(agreement: HumanAgreement) -> int:
    return sum(r.n for r in agreement.raters)


def significant_sites(agreement: HumanAgreement) -> list[str]:
    return [s.site for s in agreement.sites
            if s.accuracy_vs_best is not None and s.accuracy_vs_best.significant]


def assumed_seconds(manifest: Manifest, decider: str) -> float | None:
    """The configured ``seconds_per_item`` of a human decider (used where data has no times)."""
    for d in manifest.deciders:
        if d.get("name") == decider:
            value = (d.get("params") or {}).get("seconds_per_item")
            return float(value) if value is not None else None
    return None
