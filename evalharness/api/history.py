"""``evalharness history``: every run in a results folder, per policy, in the order they started.

Metrics come from ``metrics.json``, or are recomputed from ``decisions.jsonl`` when a run has none
yet (an interrupted run). A folder that cannot be read is listed under ``skipped`` with the reason;
nothing here raises on a bad run folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ..execution.rundir import MANIFEST, RunDir
from ..gating.history import history_rows
from ..records import Manifest, MetricsFile
from ..records.errors import EvalHarnessError, UsageError
from ..records.history import HistoryRow, RunHistory, SkippedRun
from ..scoring.metrics_file import build_metrics

__all__ = ["check_history", "run_history"]


def _metrics(run: RunDir, manifest: Manifest) -> tuple[MetricsFile, str]:
    if run.file("metrics.json").exists():
        try:
            return run.read_metrics(), "metrics.json"
        except (ValidationError, ValueError, EvalHarnessError):
            pass  # rebuild from decisions below
    table = run.read_table()
    labels = {pid: info.labels for pid, info in manifest.policies.items()}
    known = np.isin(table["policy"].codes, [table["policy"].code(pid) for pid in labels])
    return build_metrics(manifest.run_id, table.take(np.flatnonzero(known)), labels, ()), \
        "decisions.jsonl"


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


def check_history(history: RunHistory, *, policy: str | None = None,
                  decider: str | None = None) -> None:
    """Nothing passes on nothing: raise :class:`UsageError` (exit 2) when the history has no run,
    or ``policy`` / ``decider`` matches none of its rows (a typo would print an empty trend)."""
    if not history.rows:
        why = f" ({len(history.skipped)} folders skipped: {history.skipped[0].reason})" \
            if history.skipped else ""
        raise UsageError(f"no run with decisions in {history.results_dir!r}{why}",
                         field="RESULTS_DIR",
                         fix="pass the folder `evalharness run --out` wrote to (default results/)")
    if policy is not None and policy not in history.policies:
        raise UsageError(f"no run in the history has policy {policy!r}", field="--policy",
                         fix=f"use one of {history.policies}")
    rows = history.for_policy(policy) if policy is not None else history.rows
    deciders = list(dict.fromkeys(r.decider for r in rows))
    if decider is not None and decider not in deciders:
        raise UsageError(f"no run in the history has decider {decider!r}"
                         + (f" on {policy}" if policy else ""), field="--decider",
                         fix=f"use one of {deciders}")
