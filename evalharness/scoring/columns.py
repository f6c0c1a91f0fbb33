"""One decider's decisions on one policy as arrays: what a ``metrics.json`` row, its slices and
its paired comparisons are computed from.

Built in one pass over the decisions (:meth:`RowArrays.of`); a slice is a :meth:`RowArrays.take`
of it, so every metric of every slice works on arrays and no decision is looked at twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..records import OUTCOMES_NOT_OK, Decision, slice_values
from ..stats.coded import encode
from ..stats.poisson import ItemWeights

__all__ = ["NO_GOLD", "RowArrays", "labels_seen", "p_violating", "prediction"]

NO_GOLD = -1
"""Gold code of a decision whose gold is unknown (a leave-one-out tie)."""


def prediction(decision: Decision) -> str:
    """The decided label, or the outcome name when there is none."""
    return decision.label if decision.outcome == "ok" and decision.label else decision.outcome


def p_violating(decision: Decision, violating: Sequence[str]) -> float | None:
    """P(violating) of one decision: its ``scores`` summed over the violating labels.

    None when the decision has no score: a non-ok outcome, or a decider that gives no ``scores``.
    Labels missing from ``scores`` count as 0; the sum is clipped to [0, 1].
    """
    if decision.outcome != "ok" or not decision.scores:
        return None
    total = sum(decision.scores.get(label, 0.0) for label in violating)
    return min(1.0, max(0.0, float(total)))


def labels_seen(decisions: Sequence[Decision], also: Sequence[str] = ()) -> list[str]:
    """Every gold and decided label of ``decisions`` (and ``also``), sorted: a label list to
    encode them with when no policy gives one."""
    return sorted({d.gold for d in decisions if d.gold is not None} | set(also)
                  | {d.label for d in decisions if d.outcome == "ok" and d.label})


@dataclass
class RowArrays:
    """Decisions of one decider on one policy, entry ``i`` = decision ``i``.

    Labels are codes: ``0..L-1`` the policy's labels, ``L + j`` the j-th non-ok outcome
    (:func:`~evalharness.stats.coded.encode`).
    """

    policy: str
    decider: str
    kind: str
    labels: tuple[str, ...]
    item_ids: list[str]
    rows: NDArray[np.intp]
    """Each item's row of the run's :class:`~evalharness.stats.poisson.ItemWeights`."""
    gold: NDArray[np.intp]
    """Gold code, :data:`NO_GOLD` when unknown."""
    pred: NDArray[np.intp]
    """The decided label's code, or the outcome's when not ok."""
    p: NDArray[np.float64]
    """P(violating) (``scores`` summed over the violating labels, clipped to [0, 1]); nan
    without a score or when no violating labels were asked for."""
    cost: NDArray[np.float64]
    latency: NDArray[np.float64]
    """Seconds; nan when unknown."""
    meta: list[Mapping[str, Any]]

    @classmethod
    def of(cls, decisions: Sequence[Decision], labels: Sequence[str], weights: ItemWeights,
           violating: Sequence[str] | None = None) -> RowArrays:
        """The arrays of ``decisions`` (one decider, one policy; at least one)."""
        first = decisions[0]
        viol = tuple(violating or ())
        n = len(decisions)
        item_ids, golds, preds, p, cost, latency, meta = zip(*(
            (d.item_id, d.gold, prediction(d),
             np.nan if not viol or (pv := p_violating(d, viol)) is None else pv,
             d.cost_usd, np.nan if d.latency_s is None else d.latency_s, d.meta)
            for d in decisions))
        gold = np.full(n, NO_GOLD, dtype=np.intp)
        known = np.fromiter((g is not None for g in golds), dtype=bool, count=n)
        gold[known] = encode([g for g in golds if g is not None], labels)
        return cls(
            policy=first.policy, decider=first.decider, kind=first.decider_kind,
            labels=tuple(labels), item_ids=list(item_ids), rows=weights.rows(item_ids), gold=gold,
            pred=encode(preds, labels), p=np.array(p, dtype=np.float64),
            cost=np.array(cost, dtype=np.float64), latency=np.array(latency, dtype=np.float64),
            meta=list(meta),
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def graded(self) -> NDArray[np.bool_]:
        return self.gold != NO_GOLD

    def outcome_counts(self, mask: NDArray[np.bool_]) -> dict[str, int]:
        """How many of the decisions in ``mask`` ended ok and with each non-ok outcome."""
        counts = np.bincount(self.pred[mask], minlength=self.n_labels + len(OUTCOMES_NOT_OK))
        return {"ok": int(counts[: self.n_labels].sum()),
                **{o: int(counts[self.n_labels + j]) for j, o in enumerate(OUTCOMES_NOT_OK)}}

    def take(self, idx: NDArray[np.intp]) -> RowArrays:
        return RowArrays(self.policy, self.decider, self.kind, self.labels,
                         [self.item_ids[i] for i in idx], self.rows[idx], self.gold[idx],
                         self.pred[idx], self.p[idx], self.cost[idx], self.latency[idx],
                         [self.meta[i] for i in idx])

    def slices(self, key: str, memo: dict[tuple[str, str], list[str]] | None = None
               ) -> dict[str, NDArray[np.intp]]:
        """The decisions in each slice of ``key`` (:func:`~evalharness.records.slice_values`: an
        item with a list of values is in each), by slice value in sorted order. ``memo`` keeps
        each item's values for the other deciders' rows (an item's ``meta`` is its golden item's,
        the same in each of its decisions)."""
        memo = {} if memo is None else memo
        found: dict[str, list[int]] = defaultdict(list)
        for i, (item, meta) in enumerate(zip(self.item_ids, self.meta)):
            values = memo.get((item, key))
            if values is None:
                values = memo[(item, key)] = slice_values(meta, key)
            for value in values:
                found[value].append(i)
        return {v: np.array(found[v], dtype=np.intp) for v in sorted(found)}
