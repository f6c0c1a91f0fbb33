"""The human-reference part of a policy's section in ``report.md``: how the raters agree with QA
gold and each other, per label, slice and BPO site."""

from __future__ import annotations

from collections.abc import Sequence

from ..records import HumanAgreement, Interval, Manifest
from .format import fmt_interval, fmt_rate, fmt_signed, fmt_usd, md_escape, table
from .views import PolicyView, assumed_seconds, n_judgments

__all__ = ["humans_section"]


def _human_line(agreement: HumanAgreement) -> str:
    alpha = agreement.alpha if agreement.alpha is not None else Interval(
        value=agreement.krippendorff_alpha)
    return (
        f"Human reference ({md_escape(agreement.decider)}): raters agree with QA gold "
        f"{fmt_interval(agreement.rater_accuracy)} (n={n_judgments(agreement)} judgments by "
        f"{len(agreement.raters)} raters, graded leave-one-out where gold came from them); "
        f"Krippendorff's α = {fmt_interval(alpha)} over {agreement.n_items} items."
    )


def humans_section(v: PolicyView, manifest: Manifest) -> list[str]:
    lines: list[str] = []
    for a in v.agreement:
        lines += [f"### Human agreement ({md_escape(a.decider)})", "", _human_line(a), ""]
        if a.labels:
            lines += table(
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
        lines += table(["rater", "site", "graded", "accuracy vs QA [95%]"], [
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
    lines += table(header, rows)
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
