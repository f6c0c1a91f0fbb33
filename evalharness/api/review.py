"""``evalharness view`` and ``evalharness queue``: every decision of a run (or two side by side)
for review in a local page, and the disagreement queue as a CSV to fill in."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..execution.rundir import RunDir, write_atomic
from ..inputs.adjudications import latest, read_verdicts
from ..records import MetricsFile, OUTCOMES_NOT_OK
from ..records.errors import UsageError
from ..records.routing import RoutingPlan
from ..review.queue import Queue
from ..review.server import ReviewState, ViewServer
from ..review.table import ReviewTable, Side
from .adjudication import CSV_COLUMNS, default_adjudication_file, verdict_recorder

__all__ = ["open_review", "view_runs", "write_queue"]


def _side(path: Path | str) -> tuple[RunDir, Side]:
    run = RunDir(Path(path))
    manifest = run.read_manifest()
    return run, Side(manifest.run_id, run.read_table(), run.read_items())


def open_review(run_dirs: list[Path | str], *, adjudications: Path | str | None = None
                ) -> ReviewState:
    """What the viewer shows for one run, or two side by side (the first is the one whose rows
    are listed; the second's decision of each key is shown beside it)."""
    if not 1 <= len(run_dirs) <= 2:
        raise UsageError(f"view takes one or two run folders, not {len(run_dirs)}", field="RUN",
                         fix="evalharness view RUN [OTHER_RUN]")
    run, a = _side(run_dirs[0])
    b = _side(run_dirs[1])[1] if len(run_dirs) == 2 else None
    manifest = run.read_manifest()
    labels = {pid: info.labels for pid, info in manifest.policies.items()}
    table = ReviewTable(a, b, manifest.slice_by, labels)
    plan = _plan(run)
    file = Path(adjudications) if adjudications else default_adjudication_file(manifest)
    writable = file.parent.is_dir()
    standing = latest(read_verdicts(file))
    return ReviewState(
        table=table, queue=Queue.of(table, plan), matrices=_matrices(run),
        adjudicate=verdict_recorder(run, manifest, a.items, file) if writable else None,
        adjudication_file=str(file) if writable else None,
        adjudicated={key: v.new_label for key, v in standing.items()},
        report=run.file("report.html") if run.file("report.html").exists() else None)


def _plan(run: RunDir) -> RoutingPlan | None:
    path = run.file("routing.yaml")
    if not path.exists():
        return None
    return RoutingPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _matrices(run: RunDir) -> list[dict[str, Any]]:
    if not run.file("metrics.json").exists():
        return []
    metrics: MetricsFile = run.read_metrics()
    return [{"policy": r.policy, "decider": r.decider, "labels": r.labels,
             "columns": [*r.labels, *OUTCOMES_NOT_OK], "counts": r.confusion}
            for r in metrics.results if r.slice is None]


def view_runs(run_dirs: list[Path | str], *, port: int = 0,
              adjudications: Path | str | None = None) -> ViewServer:
    """The viewer's server for ``run_dirs``, not yet started (``.start()`` in a thread, or
    ``.serve_forever()``), on 127.0.0.1."""
    return ViewServer(open_review(run_dirs, adjudications=adjudications), port=port)


def write_queue(run_dir: Path | str, out: Path | str | None = None) -> tuple[Path, int]:
    """The disagreement queue of a run as a CSV to fill in (``new_label``, ``reason``) and give
    to ``evalharness adjudicate``; returns where it went and how many rows."""
    state = open_review([run_dir])
    table, queue = state.table, state.queue
    path = Path(out) if out else Path(run_dir) / "queue.csv"
    picked = np.flatnonzero(queue.any)
    picked = picked[np.argsort(-queue.priority[picked], kind="stable")]
    rows = [table.row(int(i), queue.reasons(int(i))) for i in picked]
    if not rows:
        raise UsageError("the run's disagreement queue is empty: nothing to adjudicate",
                         field="RUN", fix="nothing to do; raters agree and no decider confidently "
                         "disagrees with gold")
    decided = {}
    for i in range(table.n):
        if not table.rater[i]:
            key = (table.item_ids[table.item[i]], table.policy[i])
            decided.setdefault(key, []).append(f"{table.decider[i]}={table.word(int(table.decided[i]))}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CSV_COLUMNS[:2], "gold", "reasons", "votes", "decided", "text",
                     *CSV_COLUMNS[2:]])
    for r in rows:
        writer.writerow([r["item_id"], r["policy"], r["gold"] or "", " ".join(r["reasons"]),
                         " ".join(f"{k}={v}" for k, v in r["votes"].items()),
                         " ".join(decided.get((r["item_id"], r["policy"]), [])), r["text"], "", ""])
    write_atomic(path, buffer.getvalue())
    return path, len(rows)
