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
from ..records.table import Coded, DecisionTable
from ..stats.poisson import ItemWeights

__all__ = ["NO_GOLD", "RowArrays", "SliceMemo", "labels_seen", "p_violating", "prediction"]

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
    text_only: NDArray[np.bool_]
    """Judged without the item's images, which the decider cannot see."""

    @classmethod
    def of(cls, decisions: Sequence[Decision], labels: Sequence[str], weights: ItemWeights,
           violating: Sequence[str] | None = None) -> RowArrays:
        """The arrays of ``decisions`` (one decider, one policy; at least one)."""
        table = DecisionTable.of(decisions, first_only=False)
        return cls.from_table(table, np.arange(len(table)), labels, weights, violating)

    @classmethod
    def from_table(cls, table: DecisionTable, idx: NDArray[np.intp], labels: Sequence[str],
                   weights: ItemWeights, violating: Sequence[str] | None = None) -> RowArrays:
        """The arrays of rows ``idx`` of ``table`` (one decider, one policy; at least one)."""
        labels = tuple(labels)
        index = {v: i for i, v in enumerate((*labels, *OUTCOMES_NOT_OK))}
        pred = _codes(table["outcome"], idx, index | {"ok": -1}, labels)
        ok = pred == -1
        pred[ok] = _codes(table["label"], idx[ok], index, labels, null=-1)
        if (pred < 0).any():  # ok without a label: "ok" is neither a label nor a non-ok outcome
            raise ValueError(f"'ok' is neither a label of {list(labels)} nor an outcome "
                             f"{list(OUTCOMES_NOT_OK)}")
        gold = _codes(table["gold"], idx, index, labels, null=NO_GOLD)
        p = table.p_violating(idx, violating) if violating else np.full(len(idx), np.nan)
        item_ids = table.item_ids(idx)
        first = int(idx[0])
        return cls(
            policy=str(table["policy"][first]), decider=str(table["decider"][first]),
            kind=str(table["decider_kind"][first]), labels=labels, item_ids=item_ids,
            rows=weights.rows(item_ids), gold=gold, pred=pred, p=p,
            cost=table.numbers["cost_usd"][idx], latency=table.numbers["latency_s"][idx],
            meta=table.metas(idx), text_only=table.flags["text_only"][idx],
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
                         [self.meta[i] for i in idx], self.text_only[idx])

    def slices(self, key: str, memo: SliceMemo | None = None) -> dict[str, NDArray[np.intp]]:
        """The decisions in each slice of ``key`` (:func:`~evalharness.records.slice_values`: an
        item with a list of values is in each), by slice value in sorted order. ``memo`` keeps
        each item's values for the other deciders' rows (an item's ``meta`` is its golden item's,
        the same in each of its decisions)."""
        codes, values, several = (memo or SliceMemo()).codes(self, key)
        parts: dict[str, list[NDArray[np.intp]]] = defaultdict(list)
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.diff(codes[order], prepend=-2))
        for part in np.split(order, starts[1:]) if len(order) else []:
            if codes[part[0]] >= 0:
                parts[values[codes[part[0]]]].append(part)
        for i in np.flatnonzero(codes == SliceMemo.SEVERAL):
            for value in several[int(self.rows[i])]:
                parts[value].append(np.array([i], dtype=np.intp))
        return {v: np.sort(np.concatenate(parts[v])) for v in sorted(parts)}


class SliceMemo:
    """Each item's slice values per key, worked out once for all the rows of a run: a value
    code per item (by its row of the run's weights), or :attr:`SEVERAL` with the values kept
    apart."""

    SEVERAL = -1
    _UNSET = -3

    def __init__(self) -> None:
        self._codes: dict[str, NDArray[np.intp]] = {}
        self._values: dict[str, dict[str, int]] = defaultdict(dict)
        self._several: dict[str, dict[int, list[str]]] = defaultdict(dict)

    def codes(self, a: RowArrays, key: str
              ) -> tuple[NDArray[np.intp], list[str], dict[int, list[str]]]:
        """Per decision of ``a``, its item's value code for ``key`` (or :attr:`SEVERAL`); the
        values by code; the values of items with several, by weights row."""
        size = int(a.rows.max()) + 1 if len(a) else 0
        known = self._codes.setdefault(key, np.full(0, self._UNSET, dtype=np.intp))
        if len(known) < size:
            known = self._codes[key] = np.concatenate(
                [known, np.full(size - len(known), self._UNSET, dtype=np.intp)])
        vocab, several = self._values[key], self._several[key]
        for i in np.flatnonzero(known[a.rows] == self._UNSET):
            found = slice_values(a.meta[i], key)
            row = int(a.rows[i])
            if len(found) == 1:
                known[row] = vocab.setdefault(found[0], len(vocab))
            else:
                known[row], several[row] = self.SEVERAL, found
        return known[a.rows], list(vocab), several


def _codes(column: Coded, idx: NDArray[np.intp], index: dict[str, int], labels: Sequence[str],
           null: int | None = None) -> NDArray[np.intp]:
    """Codes (:func:`~evalharness.stats.coded.encode`) of ``column``'s rows ``idx``; ``null``
    for a null. ``ValueError`` naming a value that is neither a label nor an outcome."""
    unknown = np.iinfo(np.intp).min
    codes = column.lookup(index, unknown, idx)
    if null is not None:
        codes[column.codes[idx] < 0] = null
    if (codes == unknown).any():
        value = column[int(idx[np.flatnonzero(codes == unknown)[0]])]
        raise ValueError(f"{value!r} is neither a label of {list(labels)} nor an outcome "
                         f"{list(OUTCOMES_NOT_OK)}")
    return codes
