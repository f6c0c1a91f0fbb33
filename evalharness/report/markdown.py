"""``report.md``: a summary that fits a PR comment, then one section per policy.

Every piece of data text (item text, labels, decider, rater and site names, meta values, raw model
output) goes through :func:`md_escape`, so pipes, backticks, HTML and newlines cannot break a table
or inject markup; control and bidi characters are shown as escapes (the whole page is passed
through :func:`.terminal.terminal_safe` too).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import (
    HUMAN_KINDS,
    OUTCOMES_NOT_OK,
    Interval,
    Manifest,
    MetricRow,
    MetricsFile,
)
from ..scoring.rootcause import MIN_SLICE_ITEMS, PolicyCauses, RaterSplit
from .adjudication import adjudication_lines
from .format import TEXT_LIMIT, fmt_interval, fmt_num, fmt_p, fmt_seconds, fmt_usd, md_code, md_escape, table
from .humans import humans_section
from .terminal import terminal_safe
from .summary import ceiling_cell, outcomes_cell, run_summary_lines, vs_best_cell
from .views import (
    PolicyView,
    decider_notes,
    policy_views,
)


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# per-policy sections
# --------------------------------------------------------------------------------------------


def _best_by_label(rows: Sequence[MetricRow]) -> list[str]:
    """Per label, the decider with the highest F1 (model deciders and the human tier alike)."""
    lines = []
    for label in rows[0].labels:
        scored = [r for r in rows if r.f1[label].value is not None]
        if not scored:
            continue
        best = max(scored, key=lambda r: r.f1[label].value or 0.0)
        lines.append(
            f"- **{md_escape(label)}**: best F1 is **{md_escape(best.decider)}** "
            f"{fmt_interval(best.f1[label])} (precision {fmt_interval(best.precision[label])}, "
            f"recall {fmt_interval(best.recall[label])}) at {fmt_usd(best.cost_per_decision_usd)} "
            "a decision."
        )
    return lines


def _deciders(v: PolicyView, manifest: Manifest) -> list[str]:
    header = ["decider", "kind", "n", "accuracy", "raters vs QA", "Δ vs best [95%]",
              "only this / only best right", "McNemar p", "κ", "ok share", "outcomes",
              "$/decision", "$/correct", "p50", "p95"]
    rows = []
    for r in v.overall:
        d = r.accuracy_vs_best
        rows.append([
            md_escape(r.decider), r.decider_kind,
            str(r.n) + (f" (+{r.n_no_gold} no gold)" if r.n_no_gold else ""),
            fmt_interval(r.accuracy), ceiling_cell(v, r), vs_best_cell(d, r, v.best),
            f"{d.only_this_right} / {d.only_reference_right} of {d.n}" if d else "–",
            fmt_p(d.p_value) if d else "–", fmt_num(r.cohen_kappa, 2), fmt_interval(r.coverage),
            outcomes_cell(r), fmt_usd(r.cost_per_decision_usd), fmt_usd(r.cost_per_correct_usd),
            fmt_seconds(r.latency_p50_s), fmt_seconds(r.latency_p95_s),
        ])
    return [
        "### Deciders", "",
        *table(header, rows), "",
        "Δ vs best: this decider's accuracy minus the most accurate one's, on the items both "
        "decided and against one gold — the human tier's leave-one-out gold (the majority of the "
        "other raters) when either side is the human tier, else QA gold; items without such a "
        "gold are left out of that comparison only. Paired bootstrap interval (same resampled "
        "items for both) and the exact McNemar test on the items only one of them got right, "
        "Holm-adjusted over the comparisons with the best.", "",
        *(line for note in decider_notes(v, manifest) for line in (f"**{md_escape(note)}**", "")),
    ]


def _scores(v: PolicyView) -> list[str]:
    rows = v.scored
    if not rows:
        return []
    first = rows[0].score_quality
    assert first is not None
    violating = ", ".join(map(md_escape, first.violating))
    body = []
    for r in rows:
        sq = r.score_quality
        assert sq is not None
        base = sq.n_positive / sq.n_scored if sq.n_scored else None
        body.append([
            md_escape(r.decider), str(sq.n_scored), str(sq.n_unscored), str(sq.n_positive),
            fmt_interval(sq.roc_auc),
            f"{fmt_interval(sq.average_precision)} (base {fmt_num(base, 2)})",
            fmt_interval(sq.ece),
        ])
    lines = [
        "### Ranking and calibration of P(violating)", "",
        f"P(violating) is the sum of a decider's scores for the violating labels ({violating}), "
        "against gold being violating. Decisions that are not ok carry no score: they are left out "
        "of these numbers and counted in *left out*. 0.5 AUC is chance; average precision's "
        "chance level is the base rate. ECE: mean gap between predicted and observed rate over "
        "10 bins.", "",
        *table(["decider", "scored", "left out (not ok)", "violating", "ROC AUC",
                 "average precision", "ECE"], body), "",
    ]
    for r in rows:
        sq = r.score_quality
        assert sq is not None
        bins = [b for b in sq.reliability if b.n]
        if not bins:
            continue
        lines += [f"Reliability of **{md_escape(r.decider)}** (bins with decisions):", ""]
        lines += table(["P(violating)", "n", "mean predicted", "observed [95%]"], [
            [f"{b.low:.1f}–{b.high:.1f}", str(b.n), fmt_num(b.mean_confidence, 2),
             fmt_interval(Interval(value=b.observed_rate, low=b.ci_low, high=b.ci_high))]
            for b in bins
        ])
        lines.append("")
    return lines


def _confusions(v: PolicyView) -> list[str]:
    lines = ["### Confusion matrices (rows: QA gold, columns: decided)", ""]
    columns = [*v.labels, *OUTCOMES_NOT_OK]
    for r in v.overall:
        lines += [f"**{md_escape(r.decider)}** (n={r.n}"
                  + (f", {r.n_no_gold} without gold" if r.n_no_gold else "") + ")", ""]
        lines += table(["gold \\ decided", *map(md_escape, columns)],
                        [[md_escape(label), *map(str, counts)]
                         for label, counts in zip(v.labels, r.confusion)])
        lines.append("")
    return lines


def _ordinal(v: PolicyView) -> list[str]:
    """Weighted κ and under-/over-enforcement by action, for a policy with ordered severities."""
    rows = [r for r in v.overall if r.ordinal is not None]
    if not rows:
        return []
    first = rows[0].ordinal
    assert first is not None
    actions = [a.action for a in first.by_action]
    header = ["decider", "n", "weighted κ linear / quadratic", "under-enforcement",
              "over-enforcement", *(f"{md_escape(a)}: under / over" for a in actions)]
    body = []
    for r in rows:
        o = r.ordinal
        assert o is not None
        body.append([md_escape(r.decider), str(o.n),
                     f"{fmt_num(o.weighted_kappa_linear, 2)} / {fmt_num(o.weighted_kappa_quadratic, 2)}",
                     fmt_interval(o.under), fmt_interval(o.over),
                     *(f"{fmt_interval(a.under)} / {fmt_interval(a.over)} (n={a.n})"
                       for a in o.by_action)])
    order = " < ".join(f"{md_escape(label)} ({md_escape(first.actions[label])})"
                       for label in first.order)
    return ["### Severity and enforcement", "", f"Severities, least first (action): {order}.", "",
            *table(header, body), "",
            "Under-enforcement: the decided label calls for a milder action than gold's; "
            "over-enforcement: a harsher one (per action: among decisions whose gold calls for "
            "it). Over decisions with a label; failed outputs enforce nothing and are counted "
            "among the outcomes. Wilson 95% intervals.", ""]


def _slices(v: PolicyView) -> list[str]:
    lines: list[str] = []
    deciders = [r.decider for r in v.overall]
    for key, slice_rows in v.slices.items():
        cell = {(r.slice.value, r.decider): r for r in slice_rows if r.slice}
        size: dict[str, int] = {}
        for (value, _), r in cell.items():
            size[value] = max(size.get(value, 0), r.n)
        values = sorted(size, key=lambda val: (-size[val], val))
        body = []
        for value in values:
            body.append([md_escape(value, 40), str(size[value]), *(
                fmt_interval(cell[(value, d)].accuracy) if (value, d) in cell else "–"
                for d in deciders
            )])
        lines += [f"### Accuracy by {md_escape(key)}", "",
                  *table([md_escape(key), "n", *map(md_escape, deciders)], body), ""]
    return lines


def _votes(votes: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{md_escape(label)} {n}" for label, n in votes) or "–"


def _text(text: str | None) -> str:
    return "*(not in the run folder)*" if text is None else md_escape(text, TEXT_LIMIT)


def _root_causes(v: PolicyView, n_wrong: int = 5, n_splits: int = 8) -> list[str]:
    c = v.causes
    if c is None:
        return []
    lines = ["### Root causes", "", "#### Top confusions", ""]
    rows = []
    for dc in c.deciders:
        for conf in dc.confusions[:3]:
            rows.append([md_escape(dc.decider),
                         f"{md_escape(conf.gold)} → {md_escape(conf.decided)}",
                         str(conf.count), f"{conf.share:.0%}"])
    lines += table(["decider", "gold → decided", "items", "share of its errors"], rows) if rows \
        else ["No errors."]
    lines += ["", "#### Slices with the most errors", "",
              "Errors = error rate × items in the slice, with the Wilson interval of the rate. "
              "Ranked by the interval's lower bound, so a small slice with a few errors is not "
              "read as a big problem; ▲ marks slices whose error rate is above the decider's "
              "overall rate (lower bound above it). An item with several values of a key counts "
              "in each.", ""]
    rows = []
    for dc in c.deciders:
        for s in dc.impacts[:3]:
            rows.append([
                md_escape(dc.decider), f"{md_escape(s.key)} = {md_escape(s.value, 40)}", str(s.n),
                str(s.errors), fmt_interval(s.error_rate),
                f"{s.errors_low:.1f}–{s.errors_high:.1f}", "▲" if s.above_overall else "",
            ])
    header = ["decider", "slice", "n", "errors", "error rate [95%]", "errors [95%]",
              "above overall"]
    lines += table(header, rows) if rows else ["No slices (no `slice_by` in the config)."]
    lines.append("")
    for dc in c.deciders:
        if dc.kind in HUMAN_KINDS or not dc.errors:
            continue
        lines += [f"#### Wrong items: {md_escape(dc.decider)}", "",
                  f"{dc.errors} error{'' if dc.errors == 1 else 's'} of {dc.n}; "
                  f"{dc.errors_on_split} of them on items where the raters split (those are "
                  "listed under *Items where the raters split*). Errors on items the raters "
                  "agreed on, not-ok outputs first, then the most confident:", ""]
        lines += table(["item", "text", "QA gold", "decided", "confidence", "raters", "output"], [
            [md_escape(w.item_id, 40), _text(w.text), md_escape(w.gold or "–"),
             md_escape(w.decided), fmt_num(w.confidence, 2), _votes(w.votes),
             md_escape(w.error or w.raw or "–", 80)]
            for w in dc.wrong[:n_wrong]
        ] or [["–"] * 7])
        lines.append("")
    lines += [f"#### Items where the raters split ({len(c.splits)} of {c.n_rated} rated items)", "",
              "Policy ambiguity, not model failure: the golden set's own raters disagree on "
              "these.", ""]
    if c.splits:
        deciders = [dc.decider for dc in c.deciders]
        lines += table(["item", "text", "rater votes", "QA gold", *map(md_escape, deciders)], [
            [md_escape(s.item_id, 40), _text(s.text), _votes(s.votes), md_escape(s.gold or "–"),
             *(md_escape(dict(s.decided).get(d, "–")) for d in deciders)]
            for s in c.splits[:n_splits]
        ])
        lines.append("")
    for note in c.notes:
        lines += [note, ""]
    return lines


def _example(s: RaterSplit) -> str:
    return f"  - {md_escape(s.item_id, 40)} ({_votes(s.votes)}): {_text(s.text)}"


def _sop(v: PolicyView) -> list[str]:
    c = v.causes
    if c is None or c.sop is None:
        return []
    sop = c.sop
    a = sop.agreement
    lines = [
        f"### SOP request: {md_escape(v.policy)}", "",
        f"To {md_escape(sop.owner)} (policy {md_escape(v.policy)} v{md_escape(sop.version)}): the "
        f"golden set's raters disagree on {a.n_split_items} of {a.n_items} items "
        f"(Krippendorff's α = {fmt_interval(a.alpha)}). Disagreement among trained raters points "
        "at guideline gaps, which no model or vendor can fix. Please clarify the guideline where "
        "agreement is lowest (slices ranked by the lower bound of their split rate, at least "
        f"{MIN_SLICE_ITEMS} rated items each):", "",
    ]
    if len(sop.labels) > 2:
        for la in sop.labels[:3]:
            lines.append(f"- label **{md_escape(la.label)}**: α {fmt_interval(la.alpha)}, raters "
                         f"split on {la.n_split} of {la.n_items} items where someone chose it.")
    for a_label, b_label, n in sop.label_pairs[:3]:
        lines.append(f"- **{md_escape(a_label)}** vs **{md_escape(b_label)}**: raters split "
                     f"between them on {n} items.")
    for s in sop.slices[:3]:
        alpha = f", α {fmt_num(s.alpha, 2)}" if s.alpha is not None else ""
        lines.append(f"- {md_escape(s.key)} = **{md_escape(s.value, 40)}**: split on "
                     f"{s.n_split} of {s.n_items} items ({fmt_interval(s.split_rate)}{alpha}).")
    if sop.examples:
        lines += ["", "Example items (rater votes):", ""]
        lines += [_example(s) for s in sop.examples[:6]]
    lines += ["", "Every split item, with those a decider confidently disagrees on, is in the "
              "run's disagreement queue: `evalharness view RUN` (its queue filter), or "
              "`evalharness queue RUN` for a CSV to adjudicate."]
    return lines + [""]


def _policy_section(v: PolicyView, manifest: Manifest) -> list[str]:
    lines = [f"## {md_escape(v.policy)}", ""]
    if v.info:
        lines += [
            f"Version {md_escape(v.info.version)} · owner {md_escape(v.info.owner)} · prompt "
            f"{md_code(v.info.prompt_hash[:12])} · violating: "
            f"{', '.join(map(md_escape, v.info.violating))}",
            "",
        ]
    if not v.overall:
        return lines
    lines += _deciders(v, manifest)
    lines += ["### Which decider is best on which label", "", *_best_by_label(v.overall), ""]
    header = ["decider", *(f"{md_escape(label)} {part}" for label in v.labels
                           for part in ("P", "R", "F1"))]
    body = [
        [md_escape(r.decider), *(fmt_interval(getattr(r, part)[label])
                                  for label in v.labels for part in ("precision", "recall", "f1"))]
        for r in v.overall
    ]
    lines += ["### Precision, recall and F1 per label (95% intervals)", "",
              *table(header, body), ""]
    lines += _scores(v)
    lines += _confusions(v)
    lines += _ordinal(v)
    lines += humans_section(v, manifest)
    lines += _slices(v)
    lines += _root_causes(v)
    lines += _sop(v)
    return lines


def render_markdown(metrics: MetricsFile, manifest: Manifest,
                    causes: dict[str, PolicyCauses] | None = None) -> str:
    """The whole ``report.md``: header and summary first, then one section per policy."""
    gs = manifest.golden_set
    policies = ", ".join(
        f"{md_escape(pid)} v{md_escape(p.version)}" for pid, p in manifest.policies.items()
    )
    lines = [
        f"# Eval report: {md_escape(manifest.config.get('name', manifest.run_id))}",
        "",
        f"Run {md_code(manifest.run_id)} · {manifest.started_at[:19].replace('T', ' ')} UTC · "
        f"{gs.n_items} items from {md_code(gs.path.rsplit('/', 1)[-1])}"
        f" · policies: {policies} · status: {manifest.status}",
        "",
        "95% intervals: Wilson for rates, bootstrap over items for F1, AUC and differences. "
        "Invalid, refused and failed outputs count as wrong; they are never left out.",
        "",
        "## Summary",
        "",
        *run_summary_lines(metrics, manifest, causes),
        "",
        *(adjudication_lines(metrics.adjudication) if metrics.adjudication else []),
    ]
    for view in policy_views(metrics, manifest, causes):
        lines += _policy_section(view, manifest)
    return terminal_safe("\n".join(lines).rstrip() + "\n")
