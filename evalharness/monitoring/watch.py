"""Every signed claim of a routing plan that a production QA sample can check, checked week by
week with anytime-valid tests (:mod:`evalharness.stats.sequential`).

Claims checked: each automated tier's auto-action precision and auto-clear false-negative share
(the violating share among what it cleared), and the plan's end-to-end precision and recall of
violating calls. Each claim gets two bets over its QA rows in order: one that the target is
missed (**revoke** once its wealth reaches 1/level) and one that it is met (**holds**); each is
valid even when the rate drifts, so a tier that was good and then degrades is revoked, and
looking every week raises no false alarm. The level is ``alpha / (2 x claims)`` (Bonferroni), so
with probability at least ``1 - alpha`` no verdict of any week is wrong. The interval shown is
the rate's confidence sequence over all rows so far. Rates are the QA sample's: a tier's estimate
its production rates when QA samples its decisions at random; the end-to-end ones pool every
tier's rows, so they estimate the plan's only when QA samples in proportion to each tier's
traffic. Per-label, per-action and slice claims are not checked (yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..records.monitor import ClaimWatch, QaRow, WeekPoint
from ..records.routing import PolicyRouting, RoutingPlan
from ..stats.sequential import betting_evidence, confidence_sequence, items_needed

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

    def outcomes(self, rows: Sequence[QaRow]) -> tuple[list[int], list[str]]:
        """The claim's 0/1 outcomes among ``rows`` of its policy (1: on the rate's side, e.g. QA
        agrees the item violates), in order, with each one's week."""
        bad = set(self.policy.violating)
        mine = [r for r in rows if self.tier in ("plan", r.tier)]
        if self.metric == "precision":
            counted = [(r.qa in bad, r.week) for r in mine if r.decided in bad]
        elif self.metric == "false_negative_share":
            counted = [(r.qa in bad, r.week) for r in mine if r.decided not in bad]
        else:  # recall
            counted = [(r.decided in bad, r.week) for r in mine if r.qa in bad]
        return [int(x) for x, _ in counted], [w for _, w in counted]


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
    """The claim week by week over ``rows`` (its policy's, in file order within a week), each
    verdict at level ``alpha`` (split between the two bets)."""
    ordered = sorted(rows, key=lambda r: (r.week, r.line))
    x, at = claim.outcomes(ordered)
    at_least = claim.direction == "at_least"
    missed = betting_evidence(x, claim.required, below=at_least)
    met = betting_evidence(x, claim.required, below=not at_least)
    bar = 2 / alpha
    points: list[WeekPoint] = []
    n = 0
    against = for_ = 1.0
    for week in weeks:
        while n < len(at) and at[n] <= week:
            against, for_ = max(against, missed[n]), max(for_, met[n])
            n += 1
        k = sum(x[:n])
        low, high = confidence_sequence(k, n, alpha / 2)
        # the evidence is the largest wealth so far: a revoke stays, a hold stays unless revoked
        verdict = "revoke" if against >= bar else "holds" if for_ >= bar else "too_early"
        points.append(WeekPoint(week=week, n=n, k=k, estimate=k / n if n else None, low=low,
                                high=high, evidence_against=against, evidence_for=for_,
                                verdict=verdict))  # type: ignore[arg-type]
    last = points[-1]
    needed = None
    if last.verdict == "too_early" and last.estimate is not None:
        needed = items_needed(last.estimate, claim.required, alpha / 2, max(last.n, 1))
    recent = x[-min(len(x), max(1, len(x) // 4)):] if x else []
    return ClaimWatch(policy=claim.policy.policy, tier=claim.tier, metric=claim.metric,  # type: ignore[arg-type]
                      target=claim.target, direction=claim.direction,  # type: ignore[arg-type]
                      required=claim.required, verdict=last.verdict,
                      message=_message(claim, last, needed, recent), items_needed=needed,
                      weeks=points)


def _message(claim: Watched, last: WeekPoint, needed: int | None,
             recent: Sequence[int]) -> str:
    where = "the plan" if claim.tier == "plan" else f"tier {claim.tier}"
    what = claim.metric.replace("_", " ")
    shown = (f"{last.estimate:.3f} [{last.low:.3f}, {last.high:.3f}] on {last.n} QA items"
             if last.estimate is not None else "no QA item counts for it yet")
    if last.verdict == "revoke":
        side = "below" if claim.direction == "at_least" else "above"
        latest = f"{sum(recent) / len(recent):.3f} on the latest {len(recent)}"
        return (f"revoke: {where}'s {what} is {side} the target ({claim.target}): "
                f"{latest} QA items, {shown} in all")
    if last.verdict == "holds":
        return f"holds: {where}'s {what} {shown} ({claim.target})"
    more = (f"; about {needed:,} QA items in all would decide it at the current rate"
            if needed else "")
    return f"too early to tell: {where}'s {what} {shown} ({claim.target}){more}"
