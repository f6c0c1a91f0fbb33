"""The plan in plain words: the recommendation and each decider's first-tier verdict."""

from __future__ import annotations

from collections.abc import Sequence

from ..records import Interval
from .plans import tier_label
from ..records.kinds import HUMAN_KINDS
from ..records.routing import UNKNOWN_SITE, Plan, PlanMetrics, PolicyRouting, ThresholdCheck

__all__ = ["recommendation_text", "tier_verdicts"]


def fmt_iv(iv: Interval) -> str:
    return iv.text(undefined="undefined (no items)", point=" (point estimate)")


def money(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def _cost(m: PlanMetrics, daily_volume: int) -> str:
    text = (f"{money(m.cost_per_decision_usd)} per item, {money(m.cost_per_day_usd)} per day at "
            f"{daily_volume:,} items a day")
    if m.error_cost_per_item_usd is not None:
        text += f", and {money(m.error_cost_per_item_usd)} per item of expected error costs"
    hours = {k: v for k, v in m.human_hours_per_day.items() if k != "total"}
    total = m.human_hours_per_day.get("total")
    if hours:
        if total is None:
            text += "; human handling time unknown"
        else:
            sites = [s for s in hours if s != UNKNOWN_SITE]
            per_site = ", ".join(f"{s} {hours[s] or 0:,.1f} h" for s in sites)
            text += f"; {total:,.1f} human hours a day" + (f" ({per_site})" if per_site else "")
    return text + " (point estimates)"


def _quality(m: PlanMetrics, violating: Sequence[str]) -> str:
    return (f"precision of {' or '.join(violating)} calls {fmt_iv(m.violating_precision)}, recall "
            f"{fmt_iv(m.violating_recall)}")


def _plan_sentence(plan: Plan, policy: str, m: PlanMetrics) -> str:
    if len(plan.tiers) == 1:
        t = plan.tiers[0]
        if t.kind in HUMAN_KINDS:
            return f"send every {policy} item to human review ({t.decider})"
        return f"let {tier_label(t.kind, t.decider)} decide every {policy} item"
    parts = []
    for t in plan.tiers:
        share = next(s for s in m.tiers if s.decider == t.decider)
        if t.role == "automated":
            bits = [f"{what} {chk.rule} (~{(getattr(share, chk.side) or 0):.0%} of items)"
                    for chk, what in ((t.auto_action, "auto-actions"), (t.auto_clear, "auto-clears"))
                    if chk is not None]
            parts.append(f"{tier_label(t.kind, t.decider)} {' and '.join(bits)}")
        elif t.kind in HUMAN_KINDS:
            parts.append(f"human review ({t.decider}) decides the remaining "
                         f"~{share.decided.value or 0:.0%}")
        else:
            parts.append(f"{tier_label(t.kind, t.decider)} decides the remaining "
                         f"~{share.decided.value or 0:.0%}")
    return "; then ".join(parts)


def _cut(r: PolicyRouting) -> str:
    c = r.cost_cut
    if c is None or c.cut.value is None:
        return ""
    iv = c.cut
    bounds = "" if iv.low is None or iv.high is None else f" [{iv.low:.0%}, {iv.high:.0%}]"
    return (f"; cost {iv.value:.0%}{bounds} below all human review ({c.versus}) — "
            f"{c.confidence:.0%} bootstrap interval over {c.n} validation items, an estimate, "
            "not a guarantee")


def _unsigned(plan: Plan) -> str:
    return "; ".join(f"{c.target} ({c.scope}): {fmt_iv(c.value)} — {c.verdict_text}"
                     for c in plan.claims() if c.verdict in ("meets_point_estimate", "misses"))


def recommendation_text(r: PolicyRouting, daily_volume: int) -> str:
    """The recommendation for one policy in plain words (first line of the sign-off section)."""
    plan = r.plan
    m = plan.production or plan.expected
    how = _plan_sentence(plan, r.policy, m)
    where = f"On validation items {r.at_prevalence()}"
    quality, cost = _quality(m, r.violating), _cost(m, daily_volume) + _cut(r)
    if r.status == "plan_meets_targets":
        n = len([c for c in plan.claims() if c.verdict == "guaranteed"])
        auto = "" if len(plan.tiers) == 1 else (
            f" Automated tiers decide {1 - (m.tiers[-1].decided.value or 0):.0%} of items.")
        return (f"{r.policy}: {how}. {where}: {quality}; {cost}. Meets every target: all {n} "
                f"claims are guaranteed at {r.family_wise['confidence']:.0%} confidence, "
                f"family-wise.{auto}")
    if r.status == "plan_meets_on_point_estimate":
        return (f"{r.policy}: no plan is guaranteed to meet every target. Closest: {how}; it meets "
                f"every target on the point estimate only — not signable ({_unsigned(plan)}). "
                f"{where}: {quality}; {cost}. Label more items, or lower the targets, before "
                "signing.")
    text = (f"{r.policy}: no plan meets every target on this data. Closest: {how}. It misses: "
            f"{_unsigned(plan) or 'an automated step does not hold on validation items'}. {where}: "
            f"{quality}; {cost}.")
    human = [b for b in r.baselines if b.tiers[0].kind in HUMAN_KINDS]
    if human and human[0].name != plan.name:
        h = human[0].production or human[0].expected
        text += (f" All human review ({human[0].tiers[0].decider}) reaches precision "
                 f"{fmt_iv(h.violating_precision)} and recall {fmt_iv(h.violating_recall)}.")
    return text + " Lower the targets, or improve the deciders and the golden set, before signing."


def tier_verdicts(thresholds: Sequence[ThresholdCheck], policy: str,
                  sole_decider: str | None = None) -> dict[str, str]:
    """One sentence per scored decider: what it may take as the first tier (guaranteed), or that
    it should take no cases of the policy at these targets. ``sole_decider`` is the decider the
    plan gives every item to (its verdict then speaks of thresholds only)."""
    out: dict[str, str] = {}
    by: dict[str, list[ThresholdCheck]] = {}
    for t in thresholds:
        by.setdefault(t.decider, []).append(t)
    for name, checks in by.items():
        who = tier_label(checks[0].kind, name)
        ok = [c for c in checks if c.guaranteed]
        if not ok:
            why = "; ".join(c.message.split(": ", 1)[-1] for c in checks)
            if name == sole_decider:
                out[name] = (f"{who} has no confidence threshold that holds at this target, so it "
                             f"cannot take a share of {policy} cases ahead of another tier; the plan "
                             f"gives it every item on its end-to-end quality alone: {why}")
            else:
                out[name] = f"{who} should take no {policy} cases at this target: {why}"
            continue
        parts = []
        for c in ok:
            parts.append(f"{'auto-action' if c.side == 'auto_action' else 'auto-clear'} "
                         f"{c.rule} (~{c.traffic_share or 0:.0%} of items)")
        out[name] = f"{who} may {' and '.join(parts)} of {policy} as the first tier (guaranteed)"
        flagged = [f.split(" must not ", 1)[1].split(" cases:", 1)[0]
                   for c in ok for f in c.slice_flags]
        if flagged:
            out[name] += f", but must not {', '.join(flagged)} cases"
    return out
