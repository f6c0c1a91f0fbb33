"""Claims a routing plan makes, and how they are tested family-wise.

A claim is one target on one rate: "tfidf's auto-actions have precision >= 0.90", "the plan's
recall of violating items >= 0.80", "precision >= 0.80 in slice market=BR". Each is checked on
validation items — which took no part in choosing the thresholds or the plan — at the production
prevalence when one is stated (:mod:`evalharness.stats.strata`).

Family-wise error control: the claims of each plan tried on validation form one family, and the
first-tier thresholds of every decider another; the families share the error rate ``1 -
confidence`` equally (Bonferroni), and within a family Holm's procedure decides which claims hold.
So the chance that any claim reported as guaranteed is false is at most ``1 - confidence``, however
many plans, steps and targets there are. A claim is then reported as:

* ``guaranteed`` — Holm rejects "the target is missed" within a family that was tested;
* ``meets_point_estimate`` — the validation estimate meets the target, but it is not signable
  (not tested, or not significant after the correction);
* ``misses`` — the estimate misses the target;
* ``not_judged`` — too few items (a slice under ``min_slice_items``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..records.routing import ClaimCheck, Verdict
from ..stats.multiplicity import holm
from ..stats.strata import Prevalence, StratifiedRate

__all__ = ["Claim", "ClaimCheck", "Verdict", "check_claims"]


@dataclass(frozen=True)
class Claim:
    """One target on one rate, with the counts it is tested on."""

    text: str
    """e.g. ``precision of violating calls >= 0.90``."""
    scope: str
    """``end to end``, ``step 1 (tfidf auto-action)`` or ``slice <key>=<value>``."""
    direction: Literal["at_least", "at_most"]
    required: float
    rate: StratifiedRate
    prevalence: Prevalence | None
    judged: bool = True
    """False when too few items (a small slice): reported, never a claim."""

    @property
    def p_value(self) -> float:
        return self.rate.p_value(self.direction, self.required, self.prevalence)

    @property
    def point_meets(self) -> bool | None:
        value = self.rate.value(self.prevalence)
        if value is None:
            return None
        return value >= self.required - 1e-12 if self.direction == "at_least" \
            else value <= self.required + 1e-12

    def shortfall(self) -> float:
        """How far the estimate is from the target (0 when it meets it)."""
        value = self.rate.value(self.prevalence)
        if value is None:
            return 1.0
        gap = self.required - value if self.direction == "at_least" else value - self.required
        return max(0.0, gap)


def check_claims(claims: Sequence[Claim], *, confidence: float,
                 family_alpha: float | None) -> list[ClaimCheck]:
    """Verdicts for one family of claims; ``family_alpha`` None: reported, not tested (nothing
    can be guaranteed)."""
    judged = [c for c in claims if c.judged]
    p_values = {id(c): c.p_value for c in judged}
    rejected: dict[int, tuple[bool, float]] = {}
    if family_alpha is not None and judged:
        reject, adjusted = holm([p_values[id(c)] for c in judged], family_alpha)
        rejected = {id(c): (r, a) for c, r, a in zip(judged, reject, adjusted)}
    out = []
    for c in claims:
        tested = rejected.get(id(c))
        if not c.judged:
            verdict: Verdict = "not_judged"
        elif tested is not None and tested[0] and c.point_meets:
            verdict = "guaranteed"
        elif c.point_meets:
            verdict = "meets_point_estimate"
        else:
            verdict = "misses"
        out.append(ClaimCheck(
            target=c.text, scope=c.scope, required=c.required, direction=c.direction,
            value=c.rate.interval(c.prevalence, confidence),
            prevalence=c.prevalence.violating if c.prevalence else None,
            p_value=p_values.get(id(c)),
            p_holm=tested[1] if tested is not None else None,
            family_alpha=family_alpha if tested is not None else None,
            verdict=verdict,
        ))
    return out
