"""``monitor.json``: a deployed routing plan checked against production QA, week by week."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from .base import Record

__all__ = ["ClaimWatch", "MonitorReport", "QaRow", "WeekPoint"]

Watch = Literal["holds", "too_early", "revoke"]


@dataclass(frozen=True)
class QaRow:
    """One row of a production QA sample."""

    line: int
    item_id: str
    policy: str | None
    tier: str
    decided: str
    qa: str
    week: str
    """ISO week of ``date``, ``2026-W48``."""




class WeekPoint(Record):
    """One claim after the QA rows up to the end of one week (cumulative)."""

    week: str
    """ISO week, ``2026-W48``."""
    n: int
    """QA rows the claim counts so far."""
    k: int
    """Of those, the rows on the claim's side (e.g. QA agrees the item violates)."""
    estimate: float | None
    low: float
    """The rate's anytime-valid confidence sequence (valid at every week at once while the rate
    stays the same), at the claim's level."""
    high: float
    evidence_against: float
    """Largest wealth so far of the bet that the target is missed (``revoke`` at 1/level)."""
    evidence_for: float
    """Largest wealth so far of the bet that the target is met (``holds`` at 1/level)."""
    verdict: Watch


class ClaimWatch(Record):
    """One signed claim of the plan and what production QA says of it."""

    policy: str
    tier: str
    """The decider the claim is about, or ``plan`` for an end-to-end target."""
    metric: Literal["precision", "false_negative_share", "recall"]
    """``precision``: QA-violating share of the tier's violating calls; ``false_negative_share``:
    QA-violating share of the items it cleared; ``recall``: share of QA-violating items called
    violating."""
    target: str
    """The claim as signed, e.g. ``precision >= 0.90``."""
    direction: Literal["at_least", "at_most"]
    required: float
    verdict: Watch
    """At the last week: ``revoke`` once the evidence that the target is missed has reached
    1/level (it stays revoked), else ``holds`` once the evidence that it is met has, else
    ``too_early``."""
    message: str
    """The verdict in words, with the interval and, when too early, the QA rows needed."""
    items_needed: int | None = None
    """Too early: QA rows after which the sequence would decide if the rate stayed as it is."""
    weeks: list[WeekPoint] = Field(default_factory=list)


class MonitorReport(Record):
    """Every claim of a routing plan against a QA sample."""

    schema_version: int = 1
    routing_file: str
    qa_file: str
    run_id: str
    """The run the plan was made from."""
    alpha: float
    """Family-wise error rate of every revoke and every hold, over all claims and all weeks."""
    claim_alpha: float
    """Each claim's share (Bonferroni over the claims), split evenly between its two bets."""
    rows: int
    weeks: list[str]
    claims: list[ClaimWatch]
    revoked: int

    @property
    def exit_code(self) -> int:
        """1 when a claim is revoked, else 0."""
        return 1 if self.revoked else 0
