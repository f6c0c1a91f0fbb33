"""What ordered severities add to a metric row: weighted κ, and under- and over-enforcement by
the enforcement action the gold label calls for.

All of it comes from the row's confusion matrix, restricted to decisions with a label (outcome
``ok``): a decision that failed enforced nothing and is counted among the row's outcomes instead.
Weighted κ is scikit-learn's ``cohen_kappa_score`` (linear and quadratic weights over the
severity order); rates carry Wilson intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..records.metrics import ActionEnforcement, OrdinalMetrics
from .intervals import wilson

__all__ = ["ordinal_metrics"]


def _weighted_kappa(counts: np.ndarray, weights: str) -> float | None:
    """Cohen's weighted κ of gold (rows) against decided (columns) label indices, from counts;
    None when either side uses one label only (κ is undefined)."""
    from sklearn.metrics import cohen_kappa_score

    gold, decided = np.nonzero(counts)
    if len(set(gold.tolist())) < 2 or len(set(decided.tolist())) < 2:
        return None
    value = cohen_kappa_score(gold, decided, labels=list(range(len(counts))), weights=weights,
                              sample_weight=counts[gold, decided])
    return None if np.isnan(value) else float(value)


def ordinal_metrics(confusion: Sequence[Sequence[int]], labels: Sequence[str],
                    order: Sequence[str], actions: Mapping[str, str]) -> OrdinalMetrics:
    """The ordinal metrics of a row whose ``confusion`` (gold rows, decided columns: ``labels``
    then the non-ok outcomes) is over a policy with severity ``order`` and label ``actions``."""
    at = [list(labels).index(label) for label in order]
    counts = np.asarray(confusion, dtype=np.int64)[np.ix_(at, at)]  # ok decisions, by severity
    action_order = list(dict.fromkeys(actions[label] for label in order))
    rank = np.array([action_order.index(actions[label]) for label in order])
    milder = rank[None, :] < rank[:, None]  # [gold, decided]: decided a milder action
    harsher = rank[None, :] > rank[:, None]
    by_action = []
    for i, action in enumerate(action_order):
        rows = counts[rank == i]
        n = int(rows.sum())
        by_action.append(ActionEnforcement(
            action=action, n=n, under=wilson(int((rows * milder[rank == i]).sum()), n),
            over=wilson(int((rows * harsher[rank == i]).sum()), n)))
    n = int(counts.sum())
    return OrdinalMetrics(
        order=list(order), actions={label: actions[label] for label in order}, n=n,
        weighted_kappa_linear=_weighted_kappa(counts, "linear"),
        weighted_kappa_quadratic=_weighted_kappa(counts, "quadratic"),
        under=wilson(int((counts * milder).sum()), n),
        over=wilson(int((counts * harsher).sum()), n),
        by_action=by_action)
