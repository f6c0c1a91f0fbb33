"""Which decider is best on a policy (and slice), and how much less accurate each other one is.

Every comparison is paired (the same items, against one gold: :func:`comparison_gold`) with an
exact McNemar test; "best" is significant only when every other decider is significantly less
accurate after Holm's correction, and otherwise labelled a point estimate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from ..records import HUMAN_TIER, Decision, Difference, Interval, MetricRow
from ..stats.bootstrap import percentile_bounds
from ..stats.multiplicity import holm
from ..stats.paired import mcnemar_p
from ..stats.poisson import ItemWeights, weighted_counts
from .rows import prediction

__all__ = ["ALPHA", "Cell", "add_differences", "comparison_gold", "paired_difference"]

Cell = tuple[str, str | None, str | None]
"""(policy, slice key, slice value); key and value are None for all items."""


ALPHA = 0.05
"""Significance level of the comparisons with the best decider (Holm-adjusted)."""


TIED = "no gold independent of the human tier's rater (the other raters tied)"


def comparison_gold(mine: Decision, theirs: Decision) -> str | None:
    """The one gold two deciders are compared on for an item: a human tier's (the majority of
    the raters other than the one standing for the tier) when either side is one, else QA gold.
    None when it is unknown."""
    if theirs.decider_kind == HUMAN_TIER:
        return theirs.gold
    if mine.decider_kind == HUMAN_TIER:
        return mine.gold
    return mine.gold if mine.gold == theirs.gold else None


def _correct(d: Decision, gold: str) -> bool:
    return prediction(d) == gold


def paired_difference(
    decisions: Sequence[Decision], reference: Sequence[Decision], reference_name: str,
    *, seed: int = 0, weights: ItemWeights | None = None,
) -> Difference | None:
    """Accuracy of ``decisions`` minus that of ``reference`` on the same items, against the same
    gold (:func:`comparison_gold`).

    Items one side lacks, or where no gold fits both, are left out of this comparison only and
    counted in ``n_left_out``. The interval is a Poisson bootstrap over the paired items (each
    item's weight is the same for both sides: the resamples of ``weights``, else drawn for these
    items with ``seed``); the p-value is the exact McNemar test on the items only
    one of them got right. None when no item is left to compare.
    """
    mine = {d.item_id: d for d in decisions}
    theirs = {d.item_id: d for d in reference}
    both = sorted(mine.keys() & theirs.keys())
    golds = {i: comparison_gold(mine[i], theirs[i]) for i in both}
    common = [i for i in both if golds[i] is not None]
    if not common:
        return None
    a = np.array([_correct(mine[i], golds[i]) for i in common], dtype=bool)  # type: ignore[arg-type]
    b = np.array([_correct(theirs[i], golds[i]) for i in common], dtype=bool)  # type: ignore[arg-type]
    diff = a.astype(np.intp) - b.astype(np.intp)
    weights = weights or ItemWeights(common, seed=seed)
    counts = weighted_counts(weights.weights, weights.rows(common), diff + 1, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = percentile_bounds((counts[:, 2] - counts[:, 0]) / counts.sum(axis=1))
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    no_partner = sum(1 for i, d in mine.items() if d.gold is not None and i not in theirs)
    no_gold = sum(1 for i in both if golds[i] is None and mine[i].gold is not None)
    human = HUMAN_TIER in (decisions[0].decider_kind, reference[0].decider_kind)
    reasons = [f"{no_gold} with {TIED if human else 'no gold both share'}" if no_gold else "",
               f"{no_partner} not decided by {reference_name}" if no_partner else ""]
    p_value = mcnemar_p(only_a, only_b)
    return Difference(
        reference=reference_name,
        n=len(common),
        difference=Interval(value=float(diff.mean()), low=float(low), high=float(high),
                            method="paired-bootstrap"),
        p_value=p_value, p_holm=p_value,
        only_this_right=only_a,
        only_reference_right=only_b,
        significant=p_value < ALPHA,
        n_left_out=no_gold + no_partner,
        left_out_reason="; ".join(r for r in reasons if r) or None,
    )


def _best(rows: Sequence[MetricRow], found: Mapping[str, Sequence[Decision]]) -> MetricRow | None:
    """The most accurate decider on the items every candidate decided, against one gold (a human
    tier's leave-one-out gold when one is among them: the one gold of this many-way comparison);
    a decider with no ok decision is never best, and there is none when the candidates share no
    graded item. Ties: more items graded overall, then name."""
    cands = [r for r in rows if r.accuracy.value is not None and not r.all_errors]
    if not cands:
        return None
    by_item = [{d.item_id: d for d in found[r.decider]} for r in cands]
    human = next((i for i, r in enumerate(cands) if r.decider_kind == HUMAN_TIER), None)
    common = set.intersection(*(set(x) for x in by_item))
    scores = [0] * len(cands)
    graded = 0
    for item in common:
        gold = by_item[human][item].gold if human is not None else by_item[0][item].gold
        if gold is None or any(x[item].gold is None for x in by_item):
            continue
        graded += 1
        for j, x in enumerate(by_item):
            scores[j] += _correct(x[item], gold)
    if not graded and len(cands) > 1:  # nothing passes on nothing: no best on no shared item
        return None
    j = min(range(len(cands)),
            key=lambda i: (-scores[i], -(cands[i].accuracy.value or 0.0), -cands[i].n, cands[i].decider))
    return cands[j]


def add_differences(
    rows: list[MetricRow],
    cells: Mapping[Cell, Mapping[str, Sequence[Decision]]],
    weights: ItemWeights | None = None,
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
            r.accuracy_vs_best = paired_difference(found[r.decider], found[best.decider],
                                                   best.decider, weights=weights)
        diffs = [r.accuracy_vs_best for r in others if r.accuracy_vs_best is not None]
        reject, adjusted = holm([1.0 if d.p_value is None else d.p_value for d in diffs], ALPHA)
        for d, rej, adj in zip(diffs, reject, adjusted):
            d.p_holm, d.significant = adj, rej
        # "significant" only when every other decider is significantly *less* accurate (a pair
        # compared on its own items may disagree with the ranking on the items all decided)
        ahead = [d.significant and (d.difference.value or 0.0) < 0 for d in diffs]
        best.best = "significant" if others and len(diffs) == len(others) and all(ahead) \
            else "point_estimate"
