"""``routing.md`` (the sign-off section) and the lines ``evalharness route`` prints, from a
:class:`~evalharness.records.routing.RoutingPlan`. Reads computed results; computes nothing.

Every claim is shown with its verdict — guaranteed, meets on the point estimate (not signable),
misses — and every rate at the prevalence it is at: the stated production prevalence, and the
golden set's own.
"""

from __future__ import annotations

from typing import Any

from ..records.kinds import HUMAN_KINDS
from ..records.routing import UNKNOWN_SITE, ClaimCheck, Plan, PlanMetrics, PolicyRouting, RoutingPlan
from .format import fmt_interval, md_code, md_escape, md_escape_text, symbols, table
from .terminal import terminal_safe

__all__ = ["md_escape_text", "render_routing_markdown", "routing_summary_lines"]

HEADLINE = {
    "plan_meets_targets": "Recommended plan — every claim guaranteed",
    "plan_meets_on_point_estimate": "No plan is guaranteed — closest meets the targets on the "
                                    "point estimate only (not signable)",
    "no_plan_meets_targets": "No plan meets every target",
}
VERDICT = {"guaranteed": "**guaranteed**", "meets_point_estimate": "meets on the point estimate — "
           "not signable", "misses": "**misses**", "not_judged": "too few items to judge"}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _usd(x: float | None) -> str:
    if x is None:
        return "–"
    return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def _hours(m: dict[str, float | None]) -> str:
    if not m:
        return "0"
    total = m.get("total")
    if total is None:
        return "unknown"
    sites = [f"{md_escape(k)} {v:,.1f}" for k, v in m.items()
             if k not in ("total", UNKNOWN_SITE) and v is not None]
    return f"{total:,.1f}" + (f" ({', '.join(sites)})" if sites else "")


def _section_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A table followed by a blank line."""
    return [*table(header, rows), ""]


def _cell(text: object, limit: int | None = None) -> str:
    return md_escape(symbols(str(text)), limit)


def _targets_line(t: dict[str, Any]) -> str:
    parts = []
    if t["precision_target"] is not None:
        parts.append(f"precision of violating calls ≥ {t['precision_target']:.2f} (every automated "
                     "step, and end to end)")
    if t["recall_target"] is not None:
        parts.append(f"recall of violating items ≥ {t['recall_target']:.2f} end to end")
    if t["auto_clear_max_violating"] is not None:
        parts.append(f"at most {t['auto_clear_max_violating']:.0%} of auto-cleared items violating")
    for lab, lt in t["labels"].items():
        parts += [f"{part} of {lab} ≥ {v:.2f}" for part, v in lt.items() if v is not None]
    for st in t["slices"]:
        scope = f"{st['key']}={st.get('value') or '*'}"
        parts += [f"{name.split('_')[0]} ≥ {st[name]:.2f} in slice {scope}"
                  for name in ("precision_target", "recall_target") if st.get(name) is not None]
    return "; ".join(parts) or "none"


def _claim_value(c: ClaimCheck) -> str:
    at = "golden set" if c.prevalence is None else f"prevalence {c.prevalence:g}"
    return f"{fmt_interval(c.value, 3)} ({at})"


def _claim_rows(claims: list[ClaimCheck]) -> list[list[str]]:
    return [[_cell(c.target), md_escape(c.scope), _claim_value(c),
             "–" if c.p_value is None else f"{c.p_value:.2g}",
             "–" if c.p_holm is None else f"{c.p_holm:.2g} (α {c.family_alpha:.3g})",
             VERDICT[c.verdict]] for c in claims]


def _metric(m: PlanMetrics | None, name: str) -> str:
    if m is None:
        return "–"
    value = getattr(m, name)
    if name in ("cost_per_decision_usd", "cost_per_day_usd", "error_cost_per_item_usd"):
        return _usd(value)
    if name == "human_hours_per_day":
        return _hours(value)
    return fmt_interval(value)


def _tier_rows(plan: Plan) -> list[list[str]]:
    m = plan.production or plan.expected
    rows = []
    for t in plan.tiers:
        share = next(s for s in m.tiers if s.decider == t.decider)
        who = f"{t.position}. {md_escape(t.decider)} ({t.kind})"
        if t.role == "automated":
            for chk in (t.auto_action, t.auto_clear):
                if chk is None:
                    continue
                what = "auto-action" if chk.side == "auto_action" else "auto-clear"
                verdict = "holds" if chk.guaranteed else "**does not hold**"
                rows.append([who, f"{what} {_cell(chk.rule)}", _pct(getattr(share, chk.side)),
                             verdict])
            if share.escalated_unscored:
                rows.append([who, "escalates decisions without a score", "–",
                             f"{share.escalated_unscored} items (invalid, refusal, error or no "
                             "scores) — never auto-decided"])
        else:
            rows.append([who, "decides everything left" if len(plan.tiers) > 1 else
                         "decides everything", _pct(share.decided.value),
                         "reviewed" if t.kind in HUMAN_KINDS
                         else f"its own labels; {share.undecided} left undecided (not ok)"])
    return rows


def _numbers(plan: Plan, violating: list[str]) -> list[list[str]]:
    what = md_escape(" or ".join(violating))
    names = [(f"precision of {what} calls", "violating_precision"),
             (f"recall of {what} items", "violating_recall"), ("accuracy", "accuracy"),
             ("cost per item", "cost_per_decision_usd"), ("cost per day", "cost_per_day_usd"),
             ("human hours per day", "human_hours_per_day")]
    if plan.expected.error_cost_per_item_usd is not None:
        names.insert(4, ("expected cost of errors per item", "error_cost_per_item_usd"))
    return [[label, _metric(plan.expected, name), _metric(plan.production, name)]
            for label, name in names]


def _prevalence_line(p: PolicyRouting) -> str:
    if p.sampling is not None:
        shares = ", ".join(f"{k} {v:.2%}" for k, v in p.sampling["population_shares"].items())
        return (f"Production numbers are estimated by the design weights of the golden set's "
                f"stratified sample (stratum `meta.{md_escape(p.sampling['stratum'])}`; population "
                f"shares {md_escape_text(shares)}); this golden set has "
                f"{_pct(p.golden_set_prevalence)} violating. No exact test covers such weights, so "
                "no claim is guaranteed: state the production `prevalence:` instead to sign.")
    if p.prevalence is not None:
        slices = "; ".join(f"{k}={v}: {share:.2%}" for k, vals in p.prevalence["slices"].items()
                           for v, share in vals.items())
        return (f"Production prevalence stated: {p.prevalence['overall']:.2%} violating"
                + (f" (slices: {md_escape_text(slices)})" if slices else "")
                + f"; this golden set has {_pct(p.golden_set_prevalence)}. Claims, costs, volumes "
                "and QA sizes are at the production prevalence, and the guarantees cover it.")
    return (f"**No production prevalence is stated**: every number is at this golden set's "
            f"prevalence ({_pct(p.golden_set_prevalence)} violating), which enriched golden sets "
            "overstate. Set `prevalence:` in the config or targets file (or `route --prevalence`) "
            "before signing.")


def _policy_section(p: PolicyRouting, doc: RoutingPlan) -> list[str]:
    plan = p.plan
    out = [f"## {md_escape(p.policy)}", "", f"### {HEADLINE[p.status]}", "",
           md_escape_text(p.recommendation), "", _prevalence_line(p), ""]
    out += _section_table(["tier", "does", "share of items", "on validation items"], _tier_rows(plan))
    out += [f"Claims of this plan on validation items ({plan.items['validation']} items"
            + (f"; left out: {', '.join(f'{n} {md_escape(r)}' for r, n in plan.items['left_out'].items())}"
               if plan.items["left_out"] else "") + "):", ""]
    out += _section_table(["claim", "scope", "estimate [95%]", "p", "Holm-adjusted p", "verdict"],
                  _claim_rows(plan.claims()))
    if not plan.tested:
        out += ["This plan was not one of those checked on validation items, so none of its "
                "claims can be guaranteed.", ""]
    out += _section_table(["on validation items", "golden-set prevalence", "production prevalence"],
                  _numbers(plan, p.violating))
    for note in p.notes:
        out += [f"> {md_escape_text(note)}", ""]
    out += ["Sign-off:", ""]
    out += _section_table(["role", "name", "decision", "date"],
                  [[r, "", "", ""] for r in ("Policy owner", "Program manager", "QA lead",
                                             "Vendor (BPO) operations")])
    qa = p.qa_request
    out += [f"### QA request — {md_escape(p.policy)}", "",
            f"Each week QA labels these samples; each confirms its target at {qa.confidence:.0%} "
            f"confidence with {qa.power:.0%} power if the plan performs as estimated "
            f"{md_escape_text(p.at_prevalence())} (about {qa.items_per_week:,} items a week in "
            "all; one labeled item may serve several checks).", ""]
    out += _section_table(["check", "target", "sample from", "expected", "items / week", "stream / week",
                   "note"],
                  [[md_escape(s.check), _cell(s.target), md_escape(s.sample_from),
                    "–" if s.expected is None else f"{s.expected:.3f}",
                    "–" if s.items_per_week is None else f"{s.items_per_week:,}",
                    f"{s.stream_items_per_week:,}", md_escape(s.note)] for s in qa.samples])
    out += _evidence(p, doc)
    return out


def _evidence(p: PolicyRouting, doc: RoutingPlan) -> list[str]:
    out = [f"### Evidence — {md_escape(p.policy)}", "", "#### Each decider as the first tier", ""]
    out += [f"- {md_escape_text(v)}" for v in p.tier_verdicts.values()] or \
        ["- no decider gives scores, so none can take a threshold"]
    out += [f"- **{md_escape_text(f)}**" for t in p.thresholds for f in t.slice_flags]
    out.append("")
    rows = []
    for t in p.thresholds:
        c, v = t.calibration, t.validation
        rows.append([md_escape(t.decider), t.side.replace("_", "-"), _cell(t.rule),
                     _pct(c.share if c else None), _pct(v.share if v else None),
                     "; ".join(_claim_value(x) for x in t.claims) or "–",
                     "yes" if t.guaranteed else "no"])
    if rows:
        out += _section_table(["decider", "step", "threshold", "takes (calibration)", "takes (validation)",
                       "rate on validation", "guaranteed"], rows)
    fw = p.family_wise
    out += [f"Family-wise error control: {md_escape_text(fw['method'])}; {fw['families']} "
            f"families at α = {fw['family_alpha']:.3g} each ({fw['confidence']:.0%} confidence "
            "in all). Rates: precision for auto-action, violating share of cleared items for "
            "auto-clear.", ""]
    if p.tried:
        out += ["Plans checked on validation items, in order: "
                + "; ".join(f"{md_escape(t['plan'])} ({t['verdict'].replace('_', ' ')})"
                            for t in p.tried) + ".", ""]
    out += ["#### Baselines (one decider decides everything; validation items)", ""]
    out += _section_table(["plan", "precision", "recall", "accuracy", "$/item", "$/day", "human h/day",
                   "verdict"],
                  [[md_escape(b.name), _metric(m, "violating_precision"),
                    _metric(m, "violating_recall"), _metric(m, "accuracy"),
                    _metric(m, "cost_per_decision_usd"), _metric(m, "cost_per_day_usd"),
                    _metric(m, "human_hours_per_day"), b.verdict.replace("_", " ")]
                   for b in p.baselines for m in [b.production or b.expected]])
    out += [f"#### Cost–quality frontier ({p.searched:,} plans tried on calibration items)", ""]
    errors = any(f.validation.error_cost_per_item_usd is not None for f in p.frontier)
    out += _section_table(["plan", "$/item + errors (cal)" if errors else "$/item (cal)", "F1 (cal)",
                           "meets targets (cal)", "precision (val)", "recall (val)",
                           "$/item (val)", *(["errors $/item (val)"] if errors else [])],
                  [[md_escape(f.name), _usd(f.cost_per_decision_usd), f"{f.violating_f1:.3f}",
                    "yes" if f.meets_targets_on_calibration else "no",
                    fmt_interval(f.validation.violating_precision),
                    fmt_interval(f.validation.violating_recall),
                    _usd(f.validation.cost_per_decision_usd),
                    *([_usd(f.validation.error_cost_per_item_usd)] if errors else [])]
                   for f in p.frontier])
    if p.slices:
        out += ["#### Slices (validation items)", ""]
        flags = [f for s in p.slices for f in s.flags]
        out += [f"- **{md_escape_text(f)}**" for f in flags] or \
            ["- no slice where an automated tier must not take cases (slices with at least "
             f"{doc.targets['min_slice_items']} items taken are judged)"]
        out.append("")
        out += _section_table(["slice", "n", "prevalence", "automated", "precision", "recall", "judged"],
                      [[f"{md_escape(s.key)}={md_escape(s.value, 40)}", str(s.n),
                        "golden set" if s.prevalence is None else f"{s.prevalence:g}",
                        fmt_interval(s.automated_share), fmt_interval(s.violating_precision),
                        fmt_interval(s.violating_recall), "yes" if s.judged else "too few"]
                       for s in p.slices[:40]])
        if len(p.slices) > 40:
            out += [f"({len(p.slices) - 40} smaller slices are in routing.yaml)", ""]
    left = ", ".join(f"{n} {md_escape(r)}" for r, n in p.items["left_out"].items())
    out += ["#### Items", "",
            f"{p.items['graded']} items graded: {p.items['calibration']} chose the thresholds and "
            f"the plans to check (calibration), {p.items['validation']} checked them "
            "(validation). Each plan is graded on the items every one of its tiers decided, "
            "against one gold." + (f" Left out of every plan: {left}." if left else ""), ""]
    return out


def render_routing_markdown(plan: RoutingPlan) -> str:
    """``routing.md``: recommendation first, plainly worded, then the evidence."""
    t = plan.targets
    out = [f"# Routing plan — {md_escape(plan.run_id)}", "",
           f"Targets: {md_escape_text(_targets_line(t))}."
           + "".join(f" {md_escape(p.policy)}: {md_escape_text(_targets_line(p.targets))}."
                     for p in plan.policies if len(plan.policies) > 1) + " "
           f"Daily volume {plan.daily_volume:,} items per policy; confidence {plan.confidence:.0%}.",
           "",
           "How to read this: thresholds and a short list of plans were chosen on calibration "
           f"items (items split by a seeded hash of their id, seed {plan.seed}; "
           f"{plan.split['calibration_share']:.0%} chose). Every claim — each automated step's "
           "precision or false-negative ceiling, each end-to-end and slice target — was then "
           "tested on validation items that took no part in choosing. A claim is **guaranteed** "
           "when it holds at the stated confidence family-wise (Holm within each plan, Bonferroni "
           "across the plans checked and the first-tier thresholds); anything else is labelled "
           "*meets on the point estimate — not signable* or **misses**. Intervals in brackets are "
           f"two-sided {plan.confidence:.0%}. Decisions that were invalid, refused or failed are "
           "never auto-decided: they are escalated to the next tier.", ""]
    if plan.adjudication is not None:
        a = plan.adjudication
        out += [f"**Graded against adjudicated gold**: {md_code(a.file)} (version "
                f"{md_code(a.version)}, {a.verdicts} verdicts) changed "
                + ", ".join(f"{md_escape(p)} {n}" for p, n in a.changed.items())
                + " gold labels of this run's items; every number below uses them.", ""]
    for p in plan.policies:
        out += _policy_section(p, plan)
    return terminal_safe("\n".join(out).rstrip() + "\n")


def routing_summary_lines(plan: RoutingPlan) -> list[str]:
    """What ``evalharness route`` prints: per policy the recommendation and key facts."""
    lines = []
    for p in plan.policies:
        lines.append(f"{p.policy}: {HEADLINE[p.status].lower()}")
        lines.append(f"  {p.recommendation}")
        if p.prevalence is None and p.sampling is None:
            lines.append(f"  note: no production prevalence is stated; every number is at this "
                         f"golden set's ({_pct(p.golden_set_prevalence)} violating)")
        for verdict in p.tier_verdicts.values():
            lines.append(f"  - {verdict}")
        for note in p.notes:
            lines.append(f"  note: {note}")
        for s in p.slices:
            for f in s.flags:
                lines.append(f"  flag: {f}")
        lines.append(f"  QA: label about {p.qa_request.items_per_week:,} items a week to confirm "
                     "the targets (see routing.md)")
    return [terminal_safe(line, one_line=True) for line in lines]
