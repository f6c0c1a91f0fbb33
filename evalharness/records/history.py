"""``history --json``: every run of a results folder, per policy and decider, in start order."""

from __future__ import annotations

from pydantic import Field

from .base import Record
from .metrics import Interval

__all__ = ["HistoryRow", "RunHistory", "SkippedRun"]


class HistoryRow(Record):
    """One decider on one policy in one run."""

    run_id: str
    path: str
    started_at: str | None
    status: str
    """The manifest's status (``complete``, ``running``, ``interrupted``, ``failed``)."""
    metrics_source: str
    """``metrics.json``, or ``decisions.jsonl`` when the metrics were recomputed here."""
    policy: str
    policy_version: str | None
    prompt_hash: str | None
    decider: str
    decider_kind: str
    model: str | None = None
    """The decider's model id, when it describes one."""
    n: int
    accuracy: Interval
    violating: list[str]
    precision: dict[str, Interval]
    """Per violating label."""
    recall: dict[str, Interval]
    """Per violating label."""
    f1: dict[str, Interval] = Field(default_factory=dict)
    cost_per_decision_usd: float | None


class SkippedRun(Record):
    path: str
    reason: str


class RunHistory(Record):
    """``evalharness history``: runs per policy over time."""

    schema_version: int = 1
    """Layout version of this record."""
    results_dir: str
    rows: list[HistoryRow]
    """Ordered by start time, then run id, policy and decider."""
    skipped: list[SkippedRun] = Field(default_factory=list)

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(r.policy for r in self.rows))

    def for_policy(self, policy: str) -> list[HistoryRow]:
        return [r for r in self.rows if r.policy == policy]
