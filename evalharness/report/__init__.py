"""Reports built from a run's files alone: ``metrics.json``, ``report.md`` and ``report.html``."""

from __future__ import annotations

from pathlib import Path

from ..records import MetricsFile
from ..rootcause import root_causes
from ..rundir import RunDir, write_atomic
from ..scorecard import build_metrics
from .html import render_html
from .markdown import render_markdown

__all__ = ["write_report", "render_html", "render_markdown"]


def write_report(run_dir: Path | str) -> MetricsFile:
    """Recompute ``metrics.json`` from ``decisions.jsonl`` and re-render both reports.

    Calls no model: everything comes from the run folder (``manifest.json``, ``decisions.jsonl``
    and, for item texts, ``items.jsonl``). The same folder always gives the same bytes.
    """
    run = RunDir(Path(run_dir))
    manifest = run.read_manifest()
    decisions = run.read_decisions()
    items = run.read_items()
    labels = {pid: info.labels for pid, info in manifest.policies.items()}
    violating = {pid: info.violating for pid, info in manifest.policies.items()}
    metrics = build_metrics(manifest.run_id, decisions, labels, manifest.slice_by,
                            violating=violating)
    causes = root_causes(metrics, decisions, items, manifest)
    run.write_metrics(metrics)
    write_atomic(run.file("report.md"), render_markdown(metrics, manifest, causes))
    write_atomic(run.file("report.html"), render_html(metrics, manifest, causes))
    return metrics
