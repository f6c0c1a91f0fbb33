"""The disagreement queue: the items most worth adjudicating, one row per item and policy.

Three reasons, as the SOP request and root causes name them:

* ``raters_split`` — the golden set's own raters gave different labels;
* ``confident_disagreement`` — a decider (not a rater) answered with confidence of at least
  :data:`CONFIDENT` and its label is not gold's;
* ``tier_vs_qa`` — a step of the signed routing plan whose claims are guaranteed took the item
  (its ``P(violating)`` passed the step's threshold, the tiers before it did not take it) and
  its call disagrees with QA gold.

An item's row in the queue is the row of the decider that put it there (the guaranteed tier's,
else the most confident disagreeing decider's, else the first decider's), with every reason its
item and policy has. The queue is ordered most reasons first, then by that row's confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..records.routing import RoutingPlan
from .table import ReviewTable

__all__ = ["CONFIDENT", "Queue", "REASONS"]

CONFIDENT = 0.9
REASONS = ("tier_vs_qa", "confident_disagreement", "raters_split")
_WEIGHT = {"tier_vs_qa": 4.0, "confident_disagreement": 2.0, "raters_split": 1.0}


@dataclass
class Queue:
    """Per row of a :class:`ReviewTable`: whether it is an item's queue row, and why."""

    by_reason: dict[str, NDArray[np.bool_]]
    """Queue rows that have each reason."""
    any: NDArray[np.bool_]
    priority: NDArray[np.float64]

    def reasons(self, row: int) -> list[str]:
        return [r for r in REASONS if self.by_reason[r][row]]

    @classmethod
    def of(cls, table: ReviewTable, plan: RoutingPlan | None = None) -> Queue:
        """The queue of ``table``; ``plan`` (the run's ``routing.yaml``) adds ``tier_vs_qa``."""
        n = table.n
        gold_known = table.gold >= 0
        confident = (~table.rater & gold_known & (table.decided != table.gold)
                     & (table.confidence >= CONFIDENT))
        found = {"raters_split": table.split, "confident_disagreement": confident,
                 "tier_vs_qa": _tier_vs_qa(table, plan) if plan else
                 np.zeros(n, dtype=bool)}
        pair = table.pair
        sure = np.where(np.isnan(table.confidence), 0.0, table.confidence) * 0.5
        own = sum((_WEIGHT[r] * rows for r, rows in found.items()), sure)
        # each pair's row: the one with the most of its own reasons, a decider's before a rater's
        order = np.lexsort((np.arange(n), -(own - table.rater * 0.25), pair))
        head = np.zeros(n, dtype=bool)
        head[order[np.flatnonzero(np.r_[True, np.diff(pair[order]) != 0])] if n else []] = True
        by_reason = {reason: head & np.isin(pair, pair[rows]) for reason, rows in found.items()}
        any_reason = np.logical_or.reduce([by_reason[r] for r in REASONS])
        priority = sum((_WEIGHT[r] * by_reason[r] for r in REASONS), sure)
        return cls(by_reason=by_reason, any=any_reason, priority=priority)


def _tier_vs_qa(table: ReviewTable, plan: RoutingPlan) -> NDArray[np.bool_]:
    """Rows of a guaranteed step that took their item and disagree with gold."""
    out = np.zeros(table.n, dtype=bool)
    t = table.a.table
    for routing in plan.policies:
        chosen, bad = routing.plan, set(routing.violating)
        in_policy = table.policy.codes == table.policy.code(routing.policy)
        taken = np.zeros(len(table.item_ids), dtype=bool)  # per item code
        for tier in chosen.tiers:
            if tier.role == "last":
                break
            rows = np.flatnonzero(in_policy & (table.decider.codes == table.decider.code(tier.decider)))
            rows = rows[~taken[table.item[rows]]]
            p = t.p_violating(rows, sorted(bad))
            gold_bad = np.array([table.word(int(g)) in bad for g in table.gold[rows]])
            known = table.gold[rows] >= 0
            for check, took_it in ((tier.auto_action, lambda th: p >= th),
                                   (tier.auto_clear, lambda th: p <= th)):
                if check is None or check.threshold is None:
                    continue
                took = took_it(check.threshold)  # nan (not scored): passes on
                wrong = known & (~gold_bad if check.side == "auto_action" else gold_bad)
                if check.guaranteed:
                    out[rows[took & wrong]] = True
                taken[table.item[rows[took]]] = True
    return out
