"""Refinement cycles: a run's headline numbers per policy and decider, as history rows.

For each run x policy x decider: the policy version and prompt hash, and the headline metrics with
their intervals (accuracy, violating-label precision and recall) and cost per decision. The folder
scan is :func:`evalharness.api.history.run_history`; the table and chart are
:mod:`evalharness.report.history`.
"""

from __future__ import annotations

from ..records import Manifest, MetricsFile
from ..records.history import HistoryRow

__all__ = ["history_rows"]


def history_rows(path: str, manifest: Manifest, metrics: MetricsFile, source: str) -> list[HistoryRow]:
    """One row per policy x decider of a run (its overall metrics rows); ``source`` says where
    the metrics came from (``metrics.json``, or ``decisions.jsonl`` when recomputed)."""
    models = {d.get("name"): d.get("model") for d in manifest.deciders if isinstance(d, dict)}
    out = []
    for row in metrics.results:
        if row.slice is not None:
            continue
        info = manifest.policies.get(row.policy)
        violating = list(info.violating) if info else []
        out.append(HistoryRow(
            run_id=manifest.run_id,
            path=path,
            started_at=manifest.started_at,
            status=manifest.status,
            metrics_source=source,
            policy=row.policy,
            policy_version=info.version if info else None,
            prompt_hash=info.prompt_hash if info else None,
            decider=row.decider,
            decider_kind=row.decider_kind,
            model=str(models[row.decider]) if models.get(row.decider) else None,
            n=row.n,
            accuracy=row.accuracy,
            violating=violating,
            precision={v: row.precision[v] for v in violating if v in row.precision},
            recall={v: row.recall[v] for v in violating if v in row.recall},
            f1={v: row.f1[v] for v in violating if v in row.f1},
            cost_per_decision_usd=row.cost_per_decision_usd,
        ))
    return out
