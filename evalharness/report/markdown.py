"""``report.md``: a summary that fits a PR comment, then one section per policy.

Every piece of data text (item text, labels, decider, rater and site names, meta values, raw model
output) goes through :func:`md_escape`, so pipes, backticks, HTML and newlines cannot break a table
or inject markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import (
    HUMAN_KINDS,
    OUTCOMES_NOT_OK,
    Difference,
    HumanAgreement,
    Interval,
    Manifest,
    MetricRow,
    MetricsFile,
)
from ..scoring.rootcause import MIN_SLICE_ITEMS, PolicyCauses, RaterSplit
from .views import (
    all_errors,
    golden_prevalence,
    PolicyView,
    assumed_seconds,
    n_judgments,
    not_ok,
    policy_views,
    significant_sites,
)

TEXT_LIMIT = 160
"""Characters of item text shown in a table cell."""


def md_escape(text: object, limit: int | None = None) -> str:
    """Make data safe inside a markdown table cell: no pipes, backticks, newlines or HTML."""
    out = str(text)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    out = out.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")
    return " ".join(out.split())


def md_code(text: object) -> str:
    """Data as an inline code span (outside tables): backticks and line breaks cannot escape it."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def fmt_num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_interval(iv: Interval | None, digits: int = 2) -> str:
    if iv is None or iv.value is None:
        return "–"
    if iv.low is None or iv.high is None:
        return f"{iv.value:.{digits}f}"
    return f"{iv.value:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def fmt_signed(iv: Interval | None, digits: int = 2) -> str:
    """A difference with its interval, signs shown: ``−0.12 [−0.20, −0.04]``."""
    if iv is None or iv.value is None:
        return "–"

    def s(x: float) -> str:
        text = f"{x:+.{digits}f}"
        return ("±" + text[1:]) if float(text) == 0 else text.replace("-", "−")

    if iv.low is None or iv.high is None:
        return s(iv.value)
    return f"{s(iv.value)} [{s(iv.low)}, {s(iv.high)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    return f"${value:.2g}" if value < 0.01 else f"${value:.4f}"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def fmt_rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _vs_best(d: Difference | None, row: MetricRow, best: MetricRow | None) -> str:
    if d is None:
        if best is None or row is not best:
            return "–"
        return ("best (significantly ahead of every other)" if row.best == "significant"
                else "highest (point estimate)")
    mark = " *" if d.significant else ""
    return f"{fmt_signed(d.difference)} vs {md_escape(d.reference)}{mark}"


def _ceiling(view: PolicyView, row: MetricRow) -> str:
    ceiling = view.ceiling
    if ceiling is None or row.decider_kind in HUMAN_KINDS:
        return "–"
    return fmt_interval(ceiling.rater_accuracy)


def _outcomes(row: MetricRow) -> str:
    bad = not_ok(row)
    if not bad:
        return "all ok"
    if all_errors(row):
        return "all errors" if set(bad) == {"error"} else "no ok decision (" + \
            ", ".join(f"{n} {o}" for o, n in bad.items()) + ")"
    return ", ".join(f"{n} {o}" for o, n in bad.items())


def _auc(row: MetricRow) -> str:
    sq = row.score_quality
    return "–" if sq is None else fmt_interval(sq.roc_auc)


def _human_line(agreement: HumanAgreement) -> str:
    alpha = agreement.alpha if agreement.alpha is not None else Interval(
        value=agreement.krippendorff_alpha)
    return (
        f"Human reference ({md_escape(agreement.decider)}): raters agree with QA gold "
        f"{fmt_interval(agreement.rater_accuracy)} (n={n_judgments(agreement)} judgments by "
        f"{len(agreement.raters)} raters, graded leave-one-out where gold came from them); "
        f"Krippendorff's α = {fmt_interval(alpha)} over {agreement.n_items} items."
    )


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------


def summary_lines(metrics: MetricsFile, manifest: Manifest,
                  causes: dict[str, PolicyCauses] | None = None) -> list[str]:
    """The summary table and one or two lines of findings per policy (fits a PR comment)."""
    views = policy_views(metrics, manifest, causes)
    header = ["policy", "decider", "kind", "n", "accuracy", "raters vs QA", "Δ accuracy vs best",
              "κ", "outcomes", "ROC AUC", "$/decision", "$/correct", "p50 latency"]
    table = []
    for v in views:
        for r in v.overall:
            table.append([
                md_escape(r.policy), md_escape(r.decider), r.decider_kind, str(r.n),
                fmt_interval(r.accuracy), _ceiling(v, r), _vs_best(r.accuracy_vs_best, r, v.best),
                fmt_num(r.cohen_kappa, 2), _outcomes(r), _auc(r),
                fmt_usd(r.cost_per_decision_usd), fmt_usd(r.cost_per_correct_usd),
                fmt_seconds(r.latency_p50_s),
            ])
    lines = _table(header, table)
    lines += ["", "Δ vs best: on the items both decided, against one gold (a human tier's "
              "leave-one-out gold when one side is human). \\* significant: exact McNemar test, "
              "Holm-adjusted over the comparisons with the best, below 0.05. The best is "
              "\"highest (point estimate)\" unless it is significantly ahead of every other."]
    lines += _prevalence_note(views, manifest)
    for v in views:
        lines += [""] + [f"- {line}" for line in _findings(v)]
    return lines


def _prevalence_note(views: list[PolicyView], manifest: Manifest) -> list[str]:
    """Which prevalence the numbers are at, and the rates at production prevalence when stated."""
    lines = []
    for v in views:
        stated = [r for r in v.overall if r.production is not None]
        golden = golden_prevalence(v)
        if not stated:
            lines += ["", f"**{md_escape(v.policy)}**: no production prevalence is stated, so "
                      f"every number here is at this golden set's prevalence ({golden} "
                      "violating), not production's. Set `prevalence:` in the config."]
            continue
        p = stated[0].production
        assert p is not None
        if p.basis == "sampling":
            lines += ["", f"**{md_escape(v.policy)} in the sampled population** (design weights "
                      f"of the config's `sampling:`; estimated prevalence {p.prevalence:.2%}, this "
                      f"golden set has {golden}; stratified-bootstrap intervals, estimates rather "
                      "than guarantees): what each decider delivers in production.", ""]
        else:
            lines += ["", f"**{md_escape(v.policy)} at production prevalence {p.prevalence:.2%}** "
                      f"(stated in the config; this golden set has {golden}): what each decider "
                      "delivers in production.", ""]
        lines += _table(["decider", "precision of violating calls", "recall", "accuracy",
                         "share of traffic called violating"],
                        [[md_escape(r.decider), fmt_interval(r.production.violating_precision),
                          fmt_interval(r.production.violating_recall),
                          fmt_interval(r.production.accuracy),
                          fmt_interval(r.production.violating_called, 3)]
                         for r in stated if r.production is not None])
    return lines


def _findings(v: PolicyView) -> list[str]:
    out = []
    name = f"**{md_escape(v.policy)}**"
    for a in v.agreement:
        alpha = fmt_interval(a.alpha) if a.alpha else fmt_num(a.krippendorff_alpha, 2)
        out.append(
            f"{name}: Human reference ({md_escape(a.decider)}): raters agree with QA gold "
            f"{fmt_interval(a.rater_accuracy)} ({n_judgments(a)} judgments, {len(a.raters)} "
            f"raters); α = {alpha}; raters split on {a.n_split_items} of {a.n_items} items "
            "(see the SOP request)."
        )
        if a.sites:
            worse = significant_sites(a)
            out.append(
                f"{name} sites: best {md_escape(a.best_site or '–')}; "
                + (f"significantly different: {', '.join(map(md_escape, worse))}."
                   if worse else "no site differs significantly from it.")
            )
    if v.best is not None and len(v.overall) > 1:
        worse = [r.decider for r in v.overall if r.accuracy_vs_best and r.accuracy_vs_best.significant
                 and (r.accuracy_vs_best.difference.value or 0.0) < 0]
        better = [r.decider for r in v.overall if r.accuracy_vs_best and r.accuracy_vs_best.significant
                  and (r.accuracy_vs_best.difference.value or 0.0) > 0]
        what = ("best, significantly ahead of every other decider" if v.best.best == "significant"
                else "highest accuracy (a point estimate: not significantly ahead of every other)")
        out.append(
            f"{name}: {what}: {md_escape(v.best.decider)} {fmt_interval(v.best.accuracy)}; "
            + (f"significantly less accurate: {', '.join(map(md_escape, worse))}."
               if worse else "the others are not significantly different.")
            + (f" More accurate than it on the items both decided: "
               f"{', '.join(map(md_escape, better))} (the ranking uses the items all decided)."
               if better else "")
        )
    for r in v.overall:
        d = r.accuracy_vs_best
        if d is not None and d.n_left_out:
            out.append(f"{name}: {md_escape(r.decider)} vs {md_escape(d.reference)} is compared on "
                       f"{d.n} items; {d.n_left_out} left out of that comparison only "
                       f"({md_escape(d.left_out_reason or '')}).")
        if all_errors(r):
            out.append(f"{name}: {md_escape(r.decider)}: all errors — no decision to grade; it "
                       "is never ranked.")
    return out


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


def _deciders(v: PolicyView) -> list[str]:
    header = ["decider", "kind", "n", "accuracy", "raters vs QA", "Δ vs best [95%]",
              "only this / only best right", "McNemar p", "κ", "ok share", "outcomes",
              "$/decision", "$/correct", "p50", "p95"]
    rows = []
    for r in v.overall:
        d = r.accuracy_vs_best
        rows.append([
            md_escape(r.decider), r.decider_kind,
            str(r.n) + (f" (+{r.n_no_gold} no gold)" if r.n_no_gold else ""),
            fmt_interval(r.accuracy), _ceiling(v, r), _vs_best(d, r, v.best),
            f"{d.only_this_right} / {d.only_reference_right} of {d.n}" if d else "–",
            fmt_p(d.p_value) if d else "–", fmt_num(r.cohen_kappa, 2), fmt_interval(r.coverage),
            _outcomes(r), fmt_usd(r.cost_per_decision_usd), fmt_usd(r.cost_per_correct_usd),
            fmt_seconds(r.latency_p50_s), fmt_seconds(r.latency_p95_s),
        ])
    return [
        "### Deciders", "",
        *_table(header, rows), "",
        "Δ vs best: this decider's accuracy minus the most accurate one's, on the items both "
        "decided and against one gold — the human tier's leave-one-out gold (the majority of the "
        "other raters) when either side is the human tier, else QA gold; items without such a "
        "gold are left out of that comparison only. Paired bootstrap interval (same resampled "
        "items for both) and the exact McNemar test on the items only one of them got right, "
        "Holm-adjusted over the comparisons with the best.", "",
    ]


def _scores(v: PolicyView) -> list[str]:
    rows = v.scored
    if not rows:
        return []
    first = rows[0].score_quality
    assert first is not None
    violating = ", ".join(map(md_escape, first.violating))
    table = []
    for r in rows:
        sq = r.score_quality
        assert sq is not None
        base = sq.n_positive / sq.n_scored if sq.n_scored else None
        table.append([
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
        *_table(["decider", "scored", "left out (not ok)", "violating", "ROC AUC",
                 "average precision", "ECE"], table), "",
    ]
    for r in rows:
        sq = r.score_quality
        assert sq is not None
        bins = [b for b in sq.reliability if b.n]
        if not bins:
            continue
        lines += [f"Reliability of **{md_escape(r.decider)}** (bins with decisions):", ""]
        lines += _table(["P(violating)", "n", "mean predicted", "observed [95%]"], [
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
        lines += _table(["gold \\ decided", *map(md_escape, columns)],
                        [[md_escape(label), *map(str, counts)]
                         for label, counts in zip(v.labels, r.confusion)])
        lines.append("")
    return lines


def _humans(v: PolicyView, manifest: Manifest) -> list[str]:
    lines: list[str] = []
    for a in v.agreement:
        lines += [f"### Human agreement ({md_escape(a.decider)})", "", _human_line(a), ""]
        if a.labels:
            lines += _table(
                ["label", "α (label vs rest) [95%]", "items with this label", "raters split",
                 "raters' recall vs QA"],
                [[md_escape(la.label), fmt_interval(la.alpha), str(la.n_items), str(la.n_split),
                  fmt_interval(la.rater_recall)] for la in a.labels],
            )
            if len(a.labels) == 2:
                lines += ["", "With two labels, α of each label against the rest equals the "
                          "overall α."]
            lines.append("")
        raters = sorted(a.raters, key=lambda r: (r.accuracy.high is None,
                                                 r.accuracy.high or 0.0, r.rater))
        shown = raters[:10]
        lines += [f"Raters with the lowest accuracy vs QA ({len(shown)} of {len(raters)}, "
                  "ranked by the upper bound of the interval so that raters with few judgments "
                  "are not singled out; all in report.html and metrics.json):", ""]
        lines += _table(["rater", "site", "graded", "accuracy vs QA [95%]"], [
            [md_escape(r.rater), md_escape(r.site or "–"), str(r.n), fmt_interval(r.accuracy)]
            for r in shown
        ])
        lines.append("")
        lines += _sites(a, v.labels, manifest)
    return lines


def _sites(a: HumanAgreement, labels: Sequence[str], manifest: Manifest) -> list[str]:
    lines = [f"### BPO sites ({md_escape(a.decider)})", ""]
    if not a.sites:
        return lines + ["No site is recorded for these raters (map raters to sites with `sites:` "
                        "in the human decider's config).", ""]
    header = ["site", "raters", "graded", "accuracy vs QA", "Δ vs best site [95%]",
              *(f"recall {md_escape(label)}" for label in labels), "items/hour",
              "$/decision", "$/correct"]
    rows = []
    for s in a.sites:
        d = s.accuracy_vs_best
        rows.append([
            md_escape(s.site), str(s.raters), str(s.n), fmt_interval(s.accuracy),
            "best" if s.site == a.best_site else
            (fmt_signed(d.difference) + (" *" if d.significant else "") if d else "–"),
            *(fmt_interval(s.recall.get(label)) for label in labels),
            (f"{fmt_rate(s.items_per_hour.value)} [{fmt_rate(s.items_per_hour.low)}, "
             f"{fmt_rate(s.items_per_hour.high)}]") if s.items_per_hour else "–",
            fmt_usd(s.cost_per_decision_usd), fmt_usd(s.cost_per_correct_usd),
        ])
    seconds = assumed_seconds(manifest, a.decider)
    lines += _table(header, rows)
    lines += [
        "",
        "Δ vs best site: accuracy minus the most accurate site's, with Newcombe's hybrid score "
        "interval for two independent proportions; \\* marks an interval that excludes 0 (a "
        "significant difference). It treats judgments as independent, although they cluster by "
        "rater and sites may have judged different items. Items/hour: judgments per hour of "
        "handling time, bootstrap interval over judgments"
        + (f"; where the data has no handling time, {seconds:g} s a judgment is assumed." if seconds
           else "."),
        "",
    ]
    return lines


def _slices(v: PolicyView) -> list[str]:
    lines: list[str] = []
    deciders = [r.decider for r in v.overall]
    for key, slice_rows in v.slices.items():
        cell = {(r.slice.value, r.decider): r for r in slice_rows if r.slice}
        size: dict[str, int] = {}
        for (value, _), r in cell.items():
            size[value] = max(size.get(value, 0), r.n)
        values = sorted(size, key=lambda val: (-size[val], val))
        table = []
        for value in values:
            table.append([md_escape(value, 40), str(size[value]), *(
                fmt_interval(cell[(value, d)].accuracy) if (value, d) in cell else "–"
                for d in deciders
            )])
        lines += [f"### Accuracy by {md_escape(key)}", "",
                  *_table([md_escape(key), "n", *map(md_escape, deciders)], table), ""]
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
    lines += _table(["decider", "gold → decided", "items", "share of its errors"], rows) if rows \
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
    lines += _table(header, rows) if rows else ["No slices (no `slice_by` in the config)."]
    lines.append("")
    for dc in c.deciders:
        if dc.kind in HUMAN_KINDS or not dc.errors:
            continue
        lines += [f"#### Wrong items: {md_escape(dc.decider)}", "",
                  f"{dc.errors} error{'' if dc.errors == 1 else 's'} of {dc.n}; "
                  f"{dc.errors_on_split} of them on items where the raters split (those are "
                  "listed under *Items where the raters split*). Errors on items the raters "
                  "agreed on, not-ok outputs first, then the most confident:", ""]
        lines += _table(["item", "text", "QA gold", "decided", "confidence", "raters", "output"], [
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
        lines += _table(["item", "text", "rater votes", "QA gold", *map(md_escape, deciders)], [
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
    lines += _deciders(v)
    lines += ["### Which decider is best on which label", "", *_best_by_label(v.overall), ""]
    header = ["decider", *(f"{md_escape(label)} {part}" for label in v.labels
                           for part in ("P", "R", "F1"))]
    table = [
        [md_escape(r.decider), *(fmt_interval(getattr(r, part)[label])
                                  for label in v.labels for part in ("precision", "recall", "f1"))]
        for r in v.overall
    ]
    lines += ["### Precision, recall and F1 per label (95% intervals)", "",
              *_table(header, table), ""]
    lines += _scores(v)
    lines += _confusions(v)
    lines += _humans(v, manifest)
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
        *summary_lines(metrics, manifest, causes),
        "",
    ]
    for view in policy_views(metrics, manifest, causes):
        lines += _policy_section(view, manifest)
    return "\n".join(lines).rstrip() + "\n"
