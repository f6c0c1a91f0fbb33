"""``report.md``: a summary that fits a PR comment, then one section per policy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..records import OUTCOMES_NOT_OK, HumanAgreement, Interval, Manifest, MetricRow, MetricsFile


def md_escape(text: object, limit: int | None = None) -> str:
    """Make data safe inside a markdown table cell: no pipes, backticks, newlines or HTML."""
    out = str(text)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    out = out.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")
    return " ".join(out.split())


def fmt_num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_interval(iv: Interval | None, digits: int = 2) -> str:
    if iv is None or iv.value is None:
        return "–"
    if iv.low is None or iv.high is None:
        return f"{iv.value:.{digits}f}"
    return f"{iv.value:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _overall(rows: Sequence[MetricRow]) -> list[MetricRow]:
    return [r for r in rows if r.slice is None]


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


def _human_line(agreement: HumanAgreement) -> str:
    alpha = fmt_num(agreement.krippendorff_alpha, 2)
    acc = agreement.rater_accuracy
    return (
        f"Human reference ({md_escape(agreement.decider)}): raters agree with QA gold "
        f"{fmt_interval(acc)} (n={sum(r.n for r in agreement.raters)} judgments by "
        f"{len(agreement.raters)} raters, graded leave-one-out where gold came from them); "
        f"Krippendorff's α = {alpha} over {agreement.n_items} items."
    )


def summary_lines(metrics: MetricsFile, manifest: Manifest) -> list[str]:
    rows = _overall(metrics.results)
    header = ["policy", "decider", "kind", "n", "accuracy", "κ", "coverage", "$/decision",
              "$/correct", "p50 latency"]
    table = [
        [md_escape(r.policy), md_escape(r.decider), r.decider_kind, str(r.n),
         fmt_interval(r.accuracy), fmt_num(r.cohen_kappa, 2), fmt_interval(r.coverage),
         fmt_usd(r.cost_per_decision_usd), fmt_usd(r.cost_per_correct_usd),
         fmt_seconds(r.latency_p50_s)]
        for r in rows
    ]
    lines = _table(header, table)
    for agreement in metrics.human_agreement:
        lines += ["", _human_line(agreement)]
    return lines


def _policy_section(policy: str, rows: Sequence[MetricRow], manifest: Manifest,
                    agreement: list[HumanAgreement]) -> list[str]:
    info = manifest.policies.get(policy)
    overall = _overall(rows)
    lines = [f"## {md_escape(policy)}", ""]
    if info:
        lines += [
            f"Version {md_escape(info.version)} · owner {md_escape(info.owner)} · prompt "
            f"`{info.prompt_hash[:12]}` · violating: {', '.join(map(md_escape, info.violating))}",
            "",
        ]
    labels = overall[0].labels
    lines += ["### Which decider is best on which label", "", *_best_by_label(overall), ""]
    for a in agreement:
        lines += [_human_line(a), ""]
    header = ["decider", *(f"{md_escape(label)} {part}" for label in labels for part in ("P", "R", "F1"))]
    table = [
        [md_escape(r.decider), *(fmt_interval(getattr(r, part)[label])
                                  for label in labels for part in ("precision", "recall", "f1"))]
        for r in overall
    ]
    lines += ["### Precision, recall and F1 per label (95% intervals)", "", *_table(header, table), ""]
    lines += ["### Confusion matrices (rows: QA gold, columns: decided)", ""]
    columns = [*labels, *OUTCOMES_NOT_OK]
    for r in overall:
        lines += [f"**{md_escape(r.decider)}** (n={r.n}"
                  + (f", {r.n_no_gold} without gold" if r.n_no_gold else "") + ")", ""]
        lines += _table(["gold \\ decided", *map(md_escape, columns)],
                        [[md_escape(label), *map(str, counts)] for label, counts in zip(labels, r.confusion)])
        lines.append("")
    by_key: dict[str, list[MetricRow]] = defaultdict(list)
    for r in rows:
        if r.slice is not None:
            by_key[r.slice.key].append(r)
    deciders = [r.decider for r in overall]
    for key, slice_rows in by_key.items():
        values = sorted({r.slice.value for r in slice_rows if r.slice},
                        key=lambda v: -max(r.n for r in slice_rows if r.slice and r.slice.value == v))
        cell = {(r.slice.value, r.decider): r for r in slice_rows if r.slice}
        table = []
        for value in values:
            n = max(cell[(value, d)].n for d in deciders if (value, d) in cell)
            table.append([md_escape(value, 40), str(n), *(
                fmt_interval(cell[(value, d)].accuracy) if (value, d) in cell else "–" for d in deciders
            )])
        lines += [f"### Accuracy by {md_escape(key)}", "",
                  *_table([md_escape(key), "n", *map(md_escape, deciders)], table), ""]
    for a in agreement:
        if a.sites:
            lines += [f"### Sites ({md_escape(a.decider)})", "", *_table(
                ["site", "raters", "n", "accuracy vs QA"],
                [[md_escape(s.site), str(s.raters), str(s.n), fmt_interval(s.accuracy)] for s in a.sites],
            ), ""]
    return lines


def render_markdown(metrics: MetricsFile, manifest: Manifest) -> str:
    """The whole ``report.md``."""
    gs = manifest.golden_set
    policies = ", ".join(
        f"{md_escape(pid)} v{md_escape(p.version)}" for pid, p in manifest.policies.items()
    )
    lines = [
        f"# Eval report: {md_escape(manifest.config.get('name', manifest.run_id))}",
        "",
        f"Run `{manifest.run_id}` · {manifest.started_at[:19].replace('T', ' ')} UTC · "
        f"{gs.n_items} items from `{md_escape(gs.path.rsplit('/', 1)[-1])}`"
        f" · policies: {policies} · status: {manifest.status}",
        "",
        "Intervals are 95% (Wilson for rates, bootstrap over items for F1). Invalid, refused and "
        "failed outputs count as wrong; they are never left out.",
        "",
        "## Summary",
        "",
        *summary_lines(metrics, manifest),
        "",
    ]
    rows_by_policy: dict[str, list[MetricRow]] = defaultdict(list)
    for r in metrics.results:
        rows_by_policy[r.policy].append(r)
    for policy, rows in rows_by_policy.items():
        agreement = [a for a in metrics.human_agreement if a.policy == policy]
        lines += _policy_section(policy, rows, manifest, agreement)
    return "\n".join(lines).rstrip() + "\n"
