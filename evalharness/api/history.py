"""``evalharness history``: every run in a results folder, per policy, in the order they started.

Metrics come from ``metrics.json``, or are recomputed from ``decisions.jsonl`` when a run has none
yet (an interrupted run). A folder that cannot be read is listed under ``skipped`` with the reason;
nothing here raises on a bad run folder.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..execution.rundir import MANIFEST, RunDir
from ..gating.history import history_rows
from ..records import Manifest, MetricsFile
from ..records.errors import EvalHarnessError, UsageError
from ..records.history import HistoryRow, RunHistory, SkippedRun
from ..scoring.metrics_file import build_metrics

__all__ = ["run_history"]


def _metrics(run: RunDir, manifest: Manifest) -> tuple[MetricsFile, str]:
    if run.file("metrics.json").exists():
        try:
            return run.read_metrics(), "metrics.json"
        except (ValidationError, ValueError, EvalHarnessError):
            pass  # rebuild from decisions below
    decisions = run.read_decisions()
    labels = {pid: info.labels for pid, info in manifest.policies.items()}
    decisions = [d for d in decisions if d.policy in labels]
    return build_metrics(manifest.run_id, decisions, labels, ()), "decisions.jsonl"


def run_history(results_dir: Path | str = "results") -> RunHistory:
    """Every run folder directly under ``results_dir``, per policy and decider, by start time.

    Unreadable folders (no or a broken ``manifest.json``, a corrupt ``decisions.jsonl``) are
    listed in ``skipped`` with the reason. Raises :class:`UsageError` only when ``results_dir``
    is not a folder.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise UsageError(f"no results folder {str(root)!r}", field="RESULTS_DIR",
                         fix="pass the folder `evalharness run --out` wrote to (default results/)")
    rows: list[HistoryRow] = []
    skipped: list[SkippedRun] = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        run = RunDir(path)
        if not (path / MANIFEST).exists():
            skipped.append(SkippedRun(path=str(path), reason="no manifest.json (not a run folder)"))
            continue
        try:
            manifest = run.read_manifest()
            metrics, source = _metrics(run, manifest)
            found = history_rows(str(run.path), manifest, metrics, source)
        except (EvalHarnessError, ValidationError, ValueError, OSError, KeyError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            skipped.append(SkippedRun(path=str(path), reason=f"unreadable: {reason}"))
            continue
        if not found:
            skipped.append(SkippedRun(path=str(path),
                                      reason=f"{manifest.status} run with no decisions yet"))
        rows += found
    rows.sort(key=lambda r: (r.started_at or "", r.run_id, r.policy, r.decider))
    return RunHistory(results_dir=str(root), rows=rows, skipped=skipped)
