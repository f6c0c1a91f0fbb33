"""One decider on one policy in two runs, paired item by item, and what flipped between them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..records import Decision
from ..records.comparison import FlipCounts, Flips, Transition
from ..scoring.rows import prediction
from ..stats.coded import encode

__all__ = ["MAX_EXAMPLES", "Pairs", "flips"]

MAX_EXAMPLES = 5
"""Item ids kept per kind of flip."""


class Pairs:
    """Aligned arrays for one decider on one policy over the items both runs decided.

    Quality is measured on the *graded* items: gold known and the same in both runs; cost and
    latency on every paired item (latency nan where not measured).
    """

    def __init__(self, base: Sequence[Decision], cand: Sequence[Decision],
                 labels: Sequence[str]) -> None:
        self.base = base
        self.cand = cand
        self.cost_b = np.array([d.cost_usd for d in base], dtype=np.float64)
        self.cost_c = np.array([d.cost_usd for d in cand], dtype=np.float64)
        self.lat_b = np.array([np.nan if d.latency_s is None else d.latency_s for d in base])
        self.lat_c = np.array([np.nan if d.latency_s is None else d.latency_s for d in cand])
        self.graded = [i for i, (b, c) in enumerate(zip(base, cand))
                       if b.gold is not None and b.gold == c.gold]
        self.gold_changed = sum(1 for b, c in zip(base, cand)
                                if b.gold is not None and c.gold is not None and b.gold != c.gold)
        self.ids = [base[i].item_id for i in self.graded]
        self.gold = [str(base[i].gold) for i in self.graded]
        self.pred_b = [prediction(base[i]) for i in self.graded]
        self.pred_c = [prediction(cand[i]) for i in self.graded]
        self.codes = tuple(encode(values, labels) for values in (self.gold, self.pred_b, self.pred_c))
        """Integer codes (:mod:`evalharness.stats.coded`) of gold, base and candidate."""


def flips(pairs: Pairs, labels: Sequence[str]) -> Flips:
    """Items the base got right and the candidate wrong and the reverse, per gold label, and
    every change of decided label or outcome."""
    by_gold = {label: FlipCounts() for label in labels}
    moves: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    down, up = [], []
    for item_id, gold, b, c in zip(pairs.ids, pairs.gold, pairs.pred_b, pairs.pred_c):
        counts = by_gold.setdefault(gold, FlipCounts())
        if b == gold and c != gold:
            counts.correct_to_wrong += 1
            down.append(item_id)
        elif c == gold and b != gold:
            counts.wrong_to_correct += 1
            up.append(item_id)
        if b != c:
            moves[(gold, b, c)].append(item_id)
    transitions = [
        Transition(gold=g, base=b, candidate=c, n=len(ids), examples=ids[:MAX_EXAMPLES])
        for (g, b, c), ids in sorted(moves.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return Flips(
        correct_to_wrong=len(down),
        wrong_to_correct=len(up),
        changed=sum(t.n for t in transitions),
        by_gold=by_gold,
        transitions=transitions,
        correct_to_wrong_examples=down[:MAX_EXAMPLES],
        wrong_to_correct_examples=up[:MAX_EXAMPLES],
    )
