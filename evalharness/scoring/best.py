"""Which decider is best on a policy (and slice), and how much less accurate each other one is.

Every comparison is paired (the same items, against one gold: :func:`paired_difference`) with an
exact McNemar test; "best" is significant only when every other decider is significantly less
accurate after Holm's correction, and otherwise labelled a point estimate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from ..records import HUMAN_TIER, Decision, Difference, Interval, MetricRow
from ..stats.bootstrap import percentile_bounds
from ..stats.multiplicity import holm
from ..stats.paired import mcnemar_p
from ..stats.poisson import ItemWeights, weighted_counts
from .columns import NO_GOLD, RowArrays, labels_seen

__all__ = ["ALPHA", "Cell", "add_differences", "paired_difference", "paired_difference_of"]

Cell = tuple[str, str | None, str | None]
"""(policy, slice key, slice value); key and value are None for all items."""


ALPHA = 0.05
"""Significance level of the comparisons with the best decider (Holm-adjusted)."""


TIED = "no gold independent of the human tier's rater (the other raters tied)"


def _gold_of_pair(mine: RowArrays, i: NDArray[np.intp], theirs: RowArrays,
                  j: NDArray[np.intp]) -> NDArray[np.intp]:
    """The one gold two deciders are compared on, per shared item (``mine`` at ``i``, ``theirs``
    at ``j``): a human tier's (the majority of the raters other than the one standing for the
    tier) when either side is one, else QA gold. ``NO_GOLD`` when it is unknown."""
    if theirs.kind == HUMAN_TIER:
        return theirs.gold[j]
    if mine.kind == HUMAN_TIER:
        return mine.gold[i]
    return np.where(mine.gold[i] == theirs.gold[j], mine.gold[i], NO_GOLD)


def _positions(a: RowArrays, rows: NDArray[np.intp]) -> NDArray[np.intp]:
    """Where each of ``rows`` (items ``a`` decided) sits in ``a``."""
    order = np.argsort(a.rows, kind="stable")
    return order[np.searchsorted(a.rows, rows, sorter=order)]


def paired_difference(
    decisions: Sequence[Decision], reference: Sequence[Decision], reference_name: str,
    *, seed: int = 0, weights: ItemWeights | None = None,
) -> Difference | None:
    """Accuracy of ``decisions`` minus that of ``reference`` on the same items, against the same
    gold (a human tier's leave-one-out gold when either side is one, else QA gold).

    Items one side lacks, or where no gold fits both, are left out of this comparison only and
    counted in ``n_left_out``. The interval is a Poisson bootstrap over the paired items (each
    item's weight is the same for both sides: the resamples of ``weights``, else drawn for these
    items with ``seed``); the p-value is the exact McNemar test on the items only one of them got
    right. None when no item is left to compare.
    """
    both = [*decisions, *reference]
    labels = labels_seen(both)
    weights = weights or ItemWeights(sorted({d.item_id for d in both}), seed=seed)
    return paired_difference_of(RowArrays.of(decisions, labels, weights),
                                RowArrays.of(reference, labels, weights), reference_name, weights)


def paired_difference_of(mine: RowArrays, theirs: RowArrays, reference_name: str,
                         weights: ItemWeights) -> Difference | None:
    """:func:`paired_difference` of two deciders' decisions as arrays."""
    shared = np.intersect1d(mine.rows, theirs.rows, assume_unique=True)
    i, j = _positions(mine, shared), _positions(theirs, shared)
    gold = _gold_of_pair(mine, i, theirs, j)
    has_gold = gold != NO_GOLD
    if not has_gold.any():
        return None
    a = mine.pred[i][has_gold] == gold[has_gold]
    b = theirs.pred[j][has_gold] == gold[has_gold]
    diff = a.astype(np.intp) - b.astype(np.intp)
    counts = weighted_counts(weights.weights, shared[has_gold], diff + 1, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = percentile_bounds((counts[:, 2] - counts[:, 0]) / counts.sum(axis=1))
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    no_partner = int((mine.graded & ~np.isin(mine.rows, shared)).sum())
    no_gold = int((~has_gold & mine.graded[i]).sum())
    human = HUMAN_TIER in (mine.kind, theirs.kind)
    reasons = [f"{no_gold} with {TIED if human else 'no gold both share'}" if no_gold else "",
               f"{no_partner} not decided by {reference_name}" if no_partner else ""]
    p_value = mcnemar_p(only_a, only_b)
    return Difference(
        reference=reference_name,
        n=int(has_gold.sum()),
        difference=Interval(value=float(diff.mean()), low=float(low), high=float(high),
                            method="paired-bootstrap"),
        p_value=p_value, p_holm=p_value,
        only_this_right=only_a,
        only_reference_right=only_b,
        significant=p_value < ALPHA,
        n_left_out=no_gold + no_partner,
        left_out_reason="; ".join(r for r in reasons if r) or None,
    )


def _best(rows: Sequence[MetricRow], found: Mapping[str, RowArrays]) -> MetricRow | None:
    """The most accurate decider on the items every candidate decided, against one gold (a human
    tier's leave-one-out gold when one is among them: the one gold of this many-way comparison);
    a decider with no ok decision is never best, and there is none when the candidates share no
    graded item. Ties: more items graded overall, then name."""
    cands = [r for r in rows if r.accuracy.value is not None and not r.all_errors]
    if not cands:
        return None
    arrays = [found[r.decider] for r in cands]
    common = arrays[0].rows
    for x in arrays[1:]:
        common = np.intersect1d(common, x.rows, assume_unique=True)
    at = [_positions(x, common) for x in arrays]
    human = next((k for k, r in enumerate(cands) if r.decider_kind == HUMAN_TIER), None)
    gold = arrays[human if human is not None else 0].gold[at[human if human is not None else 0]]
    keep = np.logical_and.reduce([x.gold[p] != NO_GOLD for x, p in zip(arrays, at)])
    graded = int(keep.sum())
    if not graded and len(cands) > 1:  # nothing passes on nothing: no best on no shared item
        return None
    scores = [int((x.pred[p][keep] == gold[keep]).sum()) for x, p in zip(arrays, at)]
    k = min(range(len(cands)),
            key=lambda i: (-scores[i], -(cands[i].accuracy.value or 0.0), -cands[i].n, cands[i].decider))
    return cands[k]


def add_differences(
    rows: list[MetricRow],
    cells: Mapping[Cell, Mapping[str, RowArrays]],
    weights: ItemWeights,
) -> None:
    """Set ``accuracy_vs_best`` on every row but the best of its policy and slice (intervals
    over the resamples of ``weights``)."""
    by_cell: dict[Cell, list[MetricRow]] = defaultdict(list)
    for r in rows:
        by_cell[(r.policy, r.slice.key if r.slice else None,
                 r.slice.value if r.slice else None)].append(r)
    for cell, cell_rows in by_cell.items():
        found = cells[cell]
        best = _best(cell_rows, found)
        if best is None:
            continue
        others = [r for r in cell_rows if r is not best]
        for r in others:
            r.accuracy_vs_best = paired_difference_of(found[r.decider], found[best.decider],
                                                      best.decider, weights)
        diffs = [r.accuracy_vs_best for r in others if r.accuracy_vs_best is not None]
        reject, adjusted = holm([1.0 if d.p_value is None else d.p_value for d in diffs], ALPHA)
        for d, rej, adj in zip(diffs, reject, adjusted):
            d.p_holm, d.significant = adj, rej
        # "significant" only when every other decider is significantly *less* accurate (a pair
        # compared on its own items may disagree with the ranking on the items all decided)
        ahead = [d.significant and (d.difference.value or 0.0) < 0 for d in diffs]
        best.best = "significant" if others and len(diffs) == len(others) and all(ahead) \
            else "point_estimate"
