"""The report section of a run rescored against adjudicated gold."""

from __future__ import annotations

from ..records.metrics import AdjudicationSummary
from .format import md_code, md_escape

__all__ = ["adjudication_lines"]


def adjudication_lines(summary: AdjudicationSummary) -> list[str]:
    """Markdown: which verdicts, how many labels they changed, how each decider moved."""
    changed = ", ".join(f"{md_escape(p)} {n}" for p, n in summary.changed.items()) or "none"
    lines = [
        "## Adjudicated gold",
        "",
        f"Graded against {md_code(summary.file)} (version {md_code(summary.version)}, "
        f"{summary.verdicts} verdicts). Gold labels changed, per policy: {changed}."
        + (f" {summary.not_in_run} verdicts name items or policies this run does not have."
           if summary.not_in_run else ""),
        "The decisions are the ones recorded; only the gold they are graded against moved. "
        "Accuracy with Wilson 95% intervals, against the original gold and the adjudicated gold.",
        "",
        "| policy | decider | decisions | on changed gold | accuracy, original gold | "
        "accuracy, adjudicated | change | precision, original → adjudicated | "
        "recall, original → adjudicated |",
        "|---|---|---:|---:|---|---|---:|---|---|",
    ]
    for m in summary.moves:
        lines.append(f"| {md_escape(m.policy)} | {md_escape(m.decider)} | {m.n} | {m.changed} | "
                     f"{m.before.text()} | {m.after.text()} | {m.delta:+.3f} | "
                     f"{_pairs(m.precision)} | {_pairs(m.recall)} |")
    return [*lines, ""]


def _pairs(by_label: dict) -> str:
    return "; ".join(f"{md_escape(label)} {a.text()} → {b.text()}"
                     for label, (a, b) in by_label.items()) or "–"
