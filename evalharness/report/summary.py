"""The top of ``report.md`` and what ``evalharness run`` prints: one table row per policy x
decider and a line or two of findings per policy (fits a PR comment); and the table cells the
per-policy sections share."""

from __future__ import annotations


from ..records import HUMAN_KINDS, Difference, Manifest, MetricRow, MetricsFile
from ..scoring.rootcause import PolicyCauses
from .format import fmt_interval, fmt_num, fmt_seconds, fmt_signed, fmt_usd, md_escape, table
from .terminal import terminal_safe
from .views import (
    PolicyView,
    golden_prevalence,
    n_judgments,
    not_ok,
    policy_views,
    significant_sites,
)

__all__ = ["auc_cell", "ceiling_cell", "outcomes_cell", "run_summary_lines", "vs_best_cell"]


def vs_best_cell(d: Difference | None, row: MetricRow, best: MetricRow | None) -> str:
    if d is None:
        if best is None or row is not best:
            return "–"
        return ("best (significantly ahead of every other)" if row.best == "significant"
                else "highest (point estimate)")
    mark = " *" if d.significant else ""
    return f"{fmt_signed(d.difference)} vs {md_escape(d.reference)}{mark}"


def ceiling_cell(view: PolicyView, row: MetricRow) -> str:
    ceiling = view.ceiling
    if ceiling is None or row.decider_kind in HUMAN_KINDS:
        return "–"
    return fmt_interval(ceiling.rater_accuracy)


def outcomes_cell(row: MetricRow) -> str:
    bad = not_ok(row)
    if not bad:
        return "all ok"
    if row.all_errors:
        return "all errors" if set(bad) == {"error"} else "no ok decision (" + \
            ", ".join(f"{n} {o}" for o, n in bad.items()) + ")"
    return ", ".join(f"{n} {o}" for o, n in bad.items())


def auc_cell(row: MetricRow) -> str:
    sq = row.score_quality
    return "–" if sq is None else fmt_interval(sq.roc_auc)


def run_summary_lines(metrics: MetricsFile, manifest: Manifest,
                  causes: dict[str, PolicyCauses] | None = None) -> list[str]:
    """The summary table and one or two lines of findings per policy (fits a PR comment)."""
    views = policy_views(metrics, manifest, causes)
    header = ["policy", "decider", "kind", "n", "accuracy", "raters vs QA", "Δ accuracy vs best",
              "κ", "outcomes", "ROC AUC", "$/decision", "$/correct", "p50 latency"]
    body = []
    for v in views:
        for r in v.overall:
            body.append([
                md_escape(r.policy), md_escape(r.decider), r.decider_kind, str(r.n),
                fmt_interval(r.accuracy), ceiling_cell(v, r), vs_best_cell(r.accuracy_vs_best, r, v.best),
                fmt_num(r.cohen_kappa, 2), outcomes_cell(r), auc_cell(r),
                fmt_usd(r.cost_per_decision_usd), fmt_usd(r.cost_per_correct_usd),
                fmt_seconds(r.latency_p50_s),
            ])
    lines = table(header, body)
    lines += ["", "Δ vs best: on the items both decided, against one gold (a human tier's "
              "leave-one-out gold when one side is human). \\* significant: exact McNemar test, "
              "Holm-adjusted over the comparisons with the best, below 0.05. The best is "
              "\"highest (point estimate)\" unless it is significantly ahead of every other."]
    lines += _prevalence_note(views, manifest)
    for v in views:
        lines += [""] + [f"- {line}" for line in _findings(v)]
    return [terminal_safe(line, one_line=True) for line in lines]


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
        lines += table(["decider", "precision of violating calls", "recall", "accuracy",
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
        if r.all_errors:
            out.append(f"{name}: {md_escape(r.decider)}: all errors — no decision to grade; it "
                       "is never ranked.")
    return out
