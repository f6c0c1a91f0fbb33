"""Reports built from a run's files alone: ``metrics.json``, ``report.md`` and ``report.html``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..execution.rundir import RunDir, write_atomic
from ..records import HUMAN_KINDS, Decision, Manifest, MetricsFile
from ..records.table import DecisionTable, as_table
from ..report import compile_template, render_html, render_markdown
from ..report.history import history_svg
from ..scoring.production import run_prevalence, run_sampling
from ..scoring.rootcause import root_causes
from ..scoring.adjudicated import summarize
from ..scoring.metrics_file import build_metrics
from .adjudication import Adjudication, load_adjudication
from .history import run_history

__all__ = ["prepare_reports", "report_run", "write_report"]


def prepare_reports() -> None:
    """Everything :func:`report_run` needs that does not depend on the run: this module's imports
    (done by importing it) and the HTML template."""
    compile_template()


def write_report(run_dir: Path | str, *, adjudicated: Path | str | None = None) -> MetricsFile:
    """Recompute ``metrics.json`` from ``decisions.jsonl`` and re-render both reports;
    ``adjudicated`` (an adjudication file) grades the decisions against its verdicts' labels and
    adds what moved (``metrics.adjudication`` and a report section).

    Calls no model: everything comes from the run folder (``manifest.json``, ``decisions.jsonl``
    and, for item texts, ``items.jsonl``). The same folder always gives the same bytes.
    """
    run = RunDir(Path(run_dir))
    adjudication = load_adjudication(adjudicated) if adjudicated is not None else None
    return report_run(run, run.read_manifest(), run.read_table(), adjudication)


def _metrics(manifest: Manifest, decisions: DecisionTable) -> MetricsFile:
    labels = {pid: info.labels for pid, info in manifest.policies.items()}
    violating = {pid: info.violating for pid, info in manifest.policies.items()}
    return build_metrics(manifest.run_id, decisions, labels, manifest.slice_by,
                         violating=violating,
                         decider_order=[str(d.get("name")) for d in manifest.deciders],
                         prevalence=run_prevalence(manifest), sampling=run_sampling(manifest),
                         severities={pid: (info.severity, info.actions)
                                     for pid, info in manifest.policies.items()
                                     if info.severity and info.actions})


def report_run(run: RunDir, manifest: Manifest, decisions: DecisionTable | Sequence[Decision],
               adjudication: Adjudication | None = None) -> MetricsFile:
    """:func:`write_report` for a run whose manifest and decisions are already read."""
    decisions = as_table(decisions)
    items = run.item_file()
    if adjudication is None:
        metrics = _metrics(manifest, decisions)
    else:
        original = _metrics(manifest, decisions)
        decisions, changed, unused = adjudication.regold(decisions)
        metrics = _metrics(manifest, decisions)
        metrics.adjudication = summarize(
            str(adjudication.file), adjudication.version, adjudication.verdicts, original,
            metrics, decisions, changed, unused,
            {pid: info.violating for pid, info in manifest.policies.items()})
    causes = root_causes(metrics, decisions, items, manifest)
    run.write_metrics(metrics)
    write_atomic(run.file("report.md"), render_markdown(metrics, manifest, causes))
    write_atomic(run.file("report.html"),
                 render_html(metrics, manifest, causes, history_charts(run, manifest)))
    return metrics


def history_charts(run: RunDir, manifest: Manifest) -> dict[str, str]:
    """Per policy, a chart of accuracy over this run and the earlier complete runs in the same
    results folder (only where there are at least two). Later runs are left out, so rebuilding an
    old report gives the same bytes."""
    earlier = [p for p in run.path.parent.iterdir() if p != run.path and (p / "manifest.json").exists()]
    if not earlier:  # a chart needs two runs
        return {}
    history = run_history(run.path.parent)
    charts = {}
    for policy in manifest.policies:
        rows = [r for r in history.for_policy(policy)
                if r.status == "complete" and (r.started_at or "") <= manifest.started_at
                and r.decider_kind not in HUMAN_KINDS]
        if len({r.run_id for r in rows}) >= 2:
            earlier = history.model_copy(update={"rows": rows})
            charts[policy] = history_svg(earlier, policy=policy)
    return charts
