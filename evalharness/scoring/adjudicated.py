"""Rescoring against adjudicated gold: the decisions with the verdicts' labels as gold, and how
each decider's accuracy moved.

Only ``gold`` changes: the decisions, their labels and every other column stay as recorded, so the
metrics of a rescored run are those of the same decisions graded against the corrected labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..records.adjudication import Verdict
from ..records.metrics import AdjudicationSummary, DeciderMove, MetricsFile
from ..records.table import Coded, DecisionTable

__all__ = ["changed_per_policy", "regold", "summarize"]


def regold(table: DecisionTable, verdicts: Mapping[tuple[str, str], Verdict]
           ) -> tuple[DecisionTable, NDArray[np.bool_], int]:
    """``table`` with each (item, policy) that has a verdict graded against its new label; the
    rows whose gold changed; and how many verdicts name an item or policy the table lacks."""
    gold = table["gold"]
    values = list(gold.values)
    codes = gold.codes.copy()
    pairs = table.groups(by=("item_id", "policy"))
    unused = 0
    for key, verdict in verdicts.items():
        rows = pairs.get(key)
        if rows is None:
            unused += 1
            continue
        if verdict.new_label not in values:
            values.append(verdict.new_label)
        codes[rows] = values.index(verdict.new_label)
    changed = codes != gold.codes
    coded = {**table.coded, "gold": Coded(codes, tuple(values))}
    return replace(table, coded=coded), changed, unused


def changed_per_policy(table: DecisionTable, changed: NDArray[np.bool_]) -> dict[str, int]:
    """(item, policy) golds changed, per policy."""
    pair = table.key(("item_id", "policy"))
    return {policy: int(len(np.unique(pair[changed & table.is_value("policy", policy)])))
            for policy in table["policy"].values}


def summarize(file: str, version: str, verdicts: int, before: MetricsFile, after: MetricsFile,
              table: DecisionTable, changed: NDArray[np.bool_], unused: int,
              violating: Mapping[str, Sequence[str]]) -> AdjudicationSummary:
    """Labels changed per policy and each decider's accuracy, and precision and recall of each
    violating label, against both golds (all items)."""
    per_policy = changed_per_policy(table, changed)
    earlier = {(r.policy, r.decider): r for r in before.results if r.slice is None}
    moves = []
    for row in after.results:
        was = earlier.get((row.policy, row.decider))
        if row.slice is not None or was is None:
            continue
        mine = changed & table.is_value("policy", row.policy) & table.is_value("decider",
                                                                              row.decider)
        delta = ((row.accuracy.value or 0.0) - (was.accuracy.value or 0.0)
                 if row.accuracy.value is not None and was.accuracy.value is not None else 0.0)
        bad = [label for label in violating.get(row.policy, ()) if label in row.precision]
        moves.append(DeciderMove(
            policy=row.policy, decider=row.decider, n=row.n, changed=int(mine.sum()),
            before=was.accuracy, after=row.accuracy, delta=delta,
            precision={label: (was.precision[label], row.precision[label]) for label in bad
                       if label in was.precision},
            recall={label: (was.recall[label], row.recall[label]) for label in bad
                    if label in was.recall}))
    return AdjudicationSummary(file=file, version=version, verdicts=verdicts, changed=per_policy,
                               not_in_run=unused, moves=moves)
