"""Reports built from a run's files alone: ``metrics.json`` and ``report.md``."""

from __future__ import annotations

from pathlib import Path

from ..records import MetricsFile
from ..rundir import RunDir, write_atomic
from ..scorecard import build_metrics
from .markdown import render_markdown

__all__ = ["write_report", "render_markdown"]


def write_report(run_dir: Path | str) -> MetricsFile:
    """Recompute ``metrics.json`` from ``decisions.jsonl`` and re-render the reports.

    Calls no model: everything comes from the run folder.
    """
    run = RunDir(Path(run_dir))
    manifest = run.read_manifest()
    decisions = run.read_decisions()
    labels = {pid: info.labels for pid, info in manifest.policies.items()}
    metrics = build_metrics(manifest.run_id, decisions, labels, manifest.slice_by)
    run.write_metrics(metrics)
    write_atomic(run.file("report.md"), render_markdown(metrics, manifest))
    return metrics
