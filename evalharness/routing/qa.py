"""The QA request: items QA must label each week, after launch, to confirm each target.

Sample sizes come from :mod:`evalharness.stats.power` (statsmodels): a one-sided test that the
rate beats its target, and the items that estimate accuracy within a margin. Every expected value,
stream size and in-scope share is at the production prevalence when one is stated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..records.targets import RoutingTargets
from ..stats.power import items_for_margin, items_to_confirm
from ..records.routing import ClaimCheck
from .goals import PolicyGoals
from ..records.routing import Plan, QaRequest, QaSample

__all__ = ["qa_request"]


def _value(checks: list[ClaimCheck], text: str) -> float | None:
    return next((c.value.value for c in checks if c.target == text), None)


def qa_request(plan: Plan, goals: PolicyGoals, targets: RoutingTargets,
               violating: Sequence[str]) -> QaRequest:
    conf, power = goals.confidence, targets.qa_power
    weekly = targets.daily_volume * 7
    metrics = plan.production or plan.expected
    samples: list[QaSample] = []

    def add(check: str, target: str, required: float, expected: float | None, sample_from: str,
            share: float | None, in_scope: float | None = 1.0, at_most: bool = False) -> None:
        stream = int(round(weekly * (share or 0.0)))
        beats = expected is not None and (expected < required if at_most else expected > required)
        if not beats:
            samples.append(QaSample(
                check=check, target=target, sample_from=sample_from, expected=expected,
                items_per_week=None, stream_items_per_week=stream, feasible=False,
                note="cannot be confirmed: the plan's estimate does not beat the target"))
            return
        assert expected is not None
        n = items_to_confirm(required, expected, confidence=conf, power=power)
        items = math.ceil(n / in_scope) if in_scope else None
        note = f"{n} labeled items confirm the target with {conf:.0%} confidence and {power:.0%} power"
        if in_scope is not None and in_scope < 1.0 and items is not None:
            note += f"; about {in_scope:.1%} of sampled items are in scope, so sample {items:,}"
        feasible = items is not None and items <= stream
        if not feasible:
            note += (f"; the stream has only {stream:,} items a week: pool "
                     f"{math.ceil((items or 0) / max(stream, 1)):,} weeks")
        samples.append(QaSample(check=check, target=target, sample_from=sample_from,
                                expected=expected, items_per_week=items,
                                stream_items_per_week=stream, feasible=feasible, note=note))

    for tier in plan.tiers:
        share = next(t for t in metrics.tiers if t.decider == tier.decider)
        if tier.auto_action is not None and goals.precision is not None:
            v = tier.auto_action.claims[0].value.value if tier.auto_action.claims else None
            add(f"precision of {tier.decider} auto-actions", f">= {goals.precision:.2f}",
                goals.precision, v, f"items {tier.decider} auto-actioned", share.auto_action)
        if tier.auto_clear is not None and goals.fn_ceiling is not None:
            v = tier.auto_clear.claims[0].value.value if tier.auto_clear.claims else None
            add(f"violating share of {tier.decider} auto-clears", f"<= {goals.fn_ceiling:.2f}",
                goals.fn_ceiling, v, f"items {tier.decider} auto-cleared", share.auto_clear,
                at_most=True)
    checks = [c for c in plan.target_checks if c.scope == "end to end"]
    in_scope = metrics.prevalence if metrics.prevalence is not None else \
        sum(metrics.prevalence_by_label.get(lab) or 0.0 for lab in violating)
    if goals.precision is not None:
        text = f"precision of violating calls >= {goals.precision:.2f}"
        add("precision of violating calls, end to end", f">= {goals.precision:.2f}",
            goals.precision, _value(checks, text), "all items the plan actioned",
            metrics.violating_called)
    if goals.recall is not None:
        text = f"recall of violating items >= {goals.recall:.2f}"
        add("recall of violating items, end to end", f">= {goals.recall:.2f}", goals.recall,
            _value(checks, text), "a random sample of all items", 1.0, in_scope)
    for label, lt in goals.labels.items():
        if label not in metrics.precision:
            continue
        if lt.precision is not None:
            add(f"precision of {label}", f">= {lt.precision:.2f}", lt.precision,
                metrics.precision[label].value, f"items the plan labeled {label}",
                metrics.called.get(label))
        if lt.recall is not None:
            add(f"recall of {label}", f">= {lt.recall:.2f}", lt.recall,
                metrics.recall[label].value, "a random sample of all items", 1.0,
                metrics.prevalence_by_label.get(label))
    acc = metrics.accuracy.value
    if acc is not None:
        m = items_for_margin(acc, targets.qa_margin, confidence=conf)
        samples.append(QaSample(
            check="accuracy, end to end", target=f"estimate within ±{targets.qa_margin:.2f}",
            sample_from="a random sample of all items", expected=acc, items_per_week=m,
            stream_items_per_week=weekly, feasible=m <= weekly,
            note=f"{m:,} labeled items estimate accuracy within ±{targets.qa_margin:.2f} at "
                 f"{conf:.0%} confidence"))
    total = sum(s.items_per_week or 0 for s in samples)
    return QaRequest(confidence=conf, power=power, samples=samples, items_per_week=total)

