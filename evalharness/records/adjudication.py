"""Adjudication: reviewers' verdicts that a golden label is wrong, and what rescoring with them did.

The adjudication file is append-only JSON lines next to the golden set (``<set>.adjudications.jsonl``),
one :class:`Verdict` per line; the source data is never edited. For an (item, policy) the latest
verdict is its adjudicated gold. What rescoring with them changed is
:class:`~.metrics.AdjudicationSummary`, in a rescored ``metrics.json``.
"""

from __future__ import annotations

from .base import Record

__all__ = ["Verdict"]


class Verdict(Record):
    """One reviewer's verdict on one item's gold for one policy."""

    item_id: str
    policy: str
    old_label: str | None
    """The gold the reviewer saw (the set's, or an earlier verdict's)."""
    new_label: str
    reason: str
    reviewer: str
    time: str
    """ISO 8601, UTC."""
    run_id: str | None = None
    """The run the reviewer was looking at, when recorded from one."""
