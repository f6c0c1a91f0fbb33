"""Every signed claim of a routing plan that a production QA sample can check, checked week by
week with an anytime-valid confidence sequence (:mod:`evalharness.stats.sequential`).

Claims checked: each automated tier's auto-action precision and auto-clear false-negative share
(the violating share among what it cleared), and the plan's end-to-end precision and recall of
violating calls. Each claim's sequence is at ``alpha / claims`` (Bonferroni) and is intersected
over the weeks, so with probability at least ``1 - alpha`` every verdict of every week is right
at once — looking every week raises no false alarm. The rates are the QA sample's: they estimate
the tier's production rates when QA samples each tier's decisions at random.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..records.monitor import ClaimWatch, QaRow, WeekPoint
from ..records.routing import PolicyRouting, RoutingPlan
from ..stats.sequential import confidence_sequence, items_needed

__all__ = ["Watched", "plan_claims", "watch"]


@dataclass(frozen=True)
class Watched:
    """A claim a QA sample can check: which rows it counts, and which of them succeed."""

    policy: PolicyRouting
    tier: str
    """A decider, or ``plan`` for an end-to-end claim."""
    metric: str
    target: str
    direction: str
    required: float

    def counts(self, rows: Sequence[QaRow]) -> tuple[int, int]:
        """(rows on the claim's side, rows the claim counts) among ``rows`` of its policy."""
        bad = set(self.policy.violating)
        mine = [r for r in rows if self.tier in ("plan", r.tier)]
        if self.metric == "precision":
            counted = [r.qa in bad for r in mine if r.decided in bad]
        elif self.metric == "false_negative_share":
            counted = [r.qa in bad for r in mine if r.decided not in bad]
        else:  # recall
            counted = [r.decided in bad for r in mine if r.qa in bad]
        return sum(counted), len(counted)


def plan_claims(plan: RoutingPlan) -> list[Watched]:
    """The claims of every policy's plan that QA rows can check, in plan order."""
    out = []
    for p in plan.policies:
        for tier in p.plan.tiers:
            for check, metric in ((tier.auto_action, "precision"),
                                  (tier.auto_clear, "false_negative_share")):
                for c in check.claims if check else []:
                    # an auto-clear's recall loss needs the violating items that reached it
                    if metric == "precision" or c.target.startswith("violating share"):
                        out.append(Watched(p, tier.decider, metric, c.target, c.direction,
                                           c.required))
        for c in p.plan.target_checks:
            if c.scope == "end to end" and c.target.startswith(("precision of violating",
                                                               "recall of violating")):
                out.append(Watched(p, "plan", c.target.split()[0], c.target, c.direction,
                                   c.required))
    return out


def watch(claim: Watched, rows: Sequence[QaRow], weeks: Sequence[str],
          alpha: float) -> ClaimWatch:
    """The claim week by week over ``rows`` (its policy's), at level ``alpha``."""
    points: list[WeekPoint] = []
    low, high = 0.0, 1.0
    for week in weeks:
        k, n = claim.counts([r for r in rows if r.week <= week])
        now = confidence_sequence(k, n, alpha)
        low, high = max(low, now[0]), min(high, now[1])  # every week's sequence holds at once
        points.append(WeekPoint(week=week, n=n, k=k, estimate=k / n if n else None, low=low,
                                high=high, verdict=_verdict(claim, low, high)))
    last = points[-1]
    needed = None
    if last.verdict == "too_early" and last.estimate is not None:
        needed = items_needed(last.estimate, claim.required, alpha, max(last.n, 1))
    return ClaimWatch(policy=claim.policy.policy, tier=claim.tier, metric=claim.metric,  # type: ignore[arg-type]
                      target=claim.target, direction=claim.direction,  # type: ignore[arg-type]
                      required=claim.required, verdict=last.verdict,
                      message=_message(claim, last, needed), items_needed=needed, weeks=points)


def _verdict(claim: Watched, low: float, high: float) -> str:
    at_least = claim.direction == "at_least"
    if (high < claim.required) if at_least else (low > claim.required):
        return "revoke"
    if (low >= claim.required) if at_least else (high <= claim.required):
        return "holds"
    return "too_early"


def _message(claim: Watched, last: WeekPoint, needed: int | None) -> str:
    where = "the plan" if claim.tier == "plan" else f"tier {claim.tier}"
    shown = (f"{last.estimate:.3f} [{last.low:.3f}, {last.high:.3f}] on {last.n} QA items"
             if last.estimate is not None else "no QA item counts for it yet")
    if last.verdict == "revoke":
        side = "below" if claim.direction == "at_least" else "above"
        return (f"revoke: {where}'s {claim.metric.replace('_', ' ')} {shown} is {side} the "
                f"target ({claim.target})")
    if last.verdict == "holds":
        return f"holds: {where}'s {claim.metric.replace('_', ' ')} {shown} ({claim.target})"
    more = (f"; about {needed:,} QA items in all would decide it at the current rate"
            if needed else "")
    return (f"too early to tell: {where}'s {claim.metric.replace('_', ' ')} {shown} "
            f"({claim.target}){more}")
