"""Every decision of a run as rows to review: what the viewer filters, pages and shows.

Built once from the run's decision table (columnar, :mod:`evalharness.records.table`), its items
and, for side-by-side review, a second run's table. Per row it keeps numpy columns — codes for
item, policy, decider, kind, gold, decided (the label, or the outcome when not ok), outcome; floats
for confidence, cost and latency — plus what depends on the other rows of the same item and
policy: whether the deciders agree, whether the raters split, what the second run decided and
whether it flipped. Filtering (:mod:`.query`) is then array arithmetic, fast at 100k decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..records import HUMAN_RATER, GoldenItem, slice_values
from ..records.table import DecisionTable

__all__ = ["ReviewTable", "Side"]


@dataclass(frozen=True)
class Side:
    """One run as the viewer shows it."""

    run_id: str
    table: DecisionTable
    items: Mapping[str, GoldenItem]


@dataclass
class ReviewTable:
    """The rows of run ``a`` (every decision), with run ``b``'s decision of the same key."""

    a: Side
    b: Side | None
    slice_by: Sequence[str]
    labels: Mapping[str, Sequence[str]]
    """Each policy's labels, in order."""
    words: list[str] = field(default_factory=list)
    """The strings gold, decided and the other run's decision are codes into."""

    def __post_init__(self) -> None:
        t = self.a.table
        self.n = len(t)
        self.item = t["item_id"].codes.astype(np.intp)
        self.item_ids = t["item_id"].values
        self.policy, self.decider, self.kind, self.outcome = (
            t[name] for name in ("policy", "decider", "decider_kind", "outcome"))
        self.words = list(t.answer_words)
        self.gold = t.gold_codes.astype(np.intp)
        self.decided = t.prediction_codes.astype(np.intp)
        self.confidence = t.numbers["confidence"]
        self.cost = t.numbers["cost_usd"]
        self.latency = t.numbers["latency_s"]
        self.rater = self.kind.codes == self.kind.code(HUMAN_RATER)
        self.pair = t.key(("item_id", "policy"))
        """Equal exactly where the rows' item and policy are."""
        self.agree = self._agreement()
        self.split = self._splits()
        self.other, self.flipped = self._other()
        self.texts = [self._text(i) for i in self.item_ids]
        self.lowered = [text.casefold() for text in self.texts]

    # per (item, policy) --------------------------------------------------------------------------
    def _agreement(self) -> NDArray[np.bool_]:
        """Rows whose deciders (raters left out) all decided the same for their item and policy;
        a rater's row agrees when the deciders do."""
        key = self.pair
        deciding = np.flatnonzero(~self.rater)
        agree = np.ones(self.n, dtype=bool)
        if not len(deciding):
            return agree
        order = deciding[np.argsort(key[deciding], kind="stable")]
        starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0])
        low = np.minimum.reduceat(self.decided[order], starts)
        high = np.maximum.reduceat(self.decided[order], starts)
        same = dict(zip(key[order][starts].tolist(), (low == high).tolist()))
        return np.array([same.get(k, True) for k in key.tolist()], dtype=bool)

    def _splits(self) -> NDArray[np.bool_]:
        """Rows whose item's raters gave different labels for the policy."""
        split = np.zeros(self.n, dtype=bool)
        for (item_id, policy), rows in self.a.table.groups(by=("item_id", "policy")).items():
            item = self.a.items.get(item_id)
            given = {a.labels[policy] for a in item.annotations
                     if policy in a.labels} if item is not None else set()
            split[rows] = len(given) > 1
        return split

    def _other(self) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        """Run ``b``'s decision of each row's key (-1 when it has none) and whether it differs."""
        other = np.full(self.n, -1, dtype=np.intp)
        if self.b is None:
            return other, np.zeros(self.n, dtype=bool)
        tb = self.b.table
        index = {w: i for i, w in enumerate(self.words)}
        decided_b = [index.setdefault(w, len(index)) for w in tb.answer_words]
        self.words = list(index)
        theirs = {
            (i, p, d): decided_b[c] for i, p, d, c in zip(
                tb.item_ids(np.arange(len(tb))), (tb["policy"][k] for k in range(len(tb))),
                (tb["decider"][k] for k in range(len(tb))), tb.prediction_codes.tolist())}
        policies, deciders = self.policy, self.decider
        for row in range(self.n):
            found = theirs.get((self.item_ids[self.item[row]], policies[row], deciders[row]))
            if found is not None:
                other[row] = found
        return other, (other >= 0) & (other != self.decided)

    def _text(self, item_id: str) -> str:
        item = self.a.items.get(item_id)
        return item.text if item is not None else ""

    # what a row shows ----------------------------------------------------------------------------
    def word(self, code: int) -> str | None:
        return None if code < 0 else self.words[code]

    def code(self, word: str) -> int:
        try:
            return self.words.index(word)
        except ValueError:
            return -2  # matches no row (-1 is "none")

    @cached_property
    def slice_items(self) -> dict[tuple[str, str], NDArray[np.intp]]:
        """The item codes in each (slice key, value)."""
        found: dict[tuple[str, str], list[int]] = {}
        for code, item_id in enumerate(self.item_ids):
            for key, values in self.slices_of(item_id).items():
                for value in values:
                    found.setdefault((key, value), []).append(code)
        return {k: np.array(v, dtype=np.intp) for k, v in found.items()}

    def slices_of(self, item_id: str) -> dict[str, list[str]]:
        item = self.a.items.get(item_id)
        meta = item.meta if item is not None else self.a.table.meta_of.get(item_id, {})
        return {key: slice_values(meta, key) for key in self.slice_by}

    def votes(self, item_id: str, policy: str) -> dict[str, int]:
        """The raters' labels for ``policy`` on the item, with how many gave each."""
        item = self.a.items.get(item_id)
        counts: dict[str, int] = {}
        for annotation in item.annotations if item is not None else ():
            label = annotation.labels.get(policy)
            if label is not None:
                counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def row(self, i: int, reasons: Sequence[str] = ()) -> dict[str, Any]:
        """Row ``i`` as the viewer's JSON shows it (numbers as they are; text as data)."""
        item_id = self.item_ids[self.item[i]]
        policy = self.policy[i] or ""

        def number(values: NDArray[np.float64]) -> float | None:
            return None if np.isnan(values[i]) else float(values[i])

        return {
            "row": int(i), "item_id": item_id, "text": self.texts[self.item[i]],
            "policy": policy, "decider": self.decider[i], "kind": self.kind[i],
            "gold": self.word(int(self.gold[i])), "decided": self.word(int(self.decided[i])),
            "outcome": self.outcome[i], "confidence": number(self.confidence),
            "cost_usd": number(self.cost), "latency_s": number(self.latency),
            "agree": bool(self.agree[i]), "split": bool(self.split[i]),
            "other": self.word(int(self.other[i])), "flipped": bool(self.flipped[i]),
            "slices": self.slices_of(item_id), "votes": self.votes(item_id, policy),
            "reasons": list(reasons),
        }
