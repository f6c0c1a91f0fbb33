"""Root-cause views: where each decider goes wrong, and where the policy itself is unclear.

Built from ``metrics.json`` rows, ``decisions.jsonl`` and the run's ``items.jsonl`` (for item
text only). Pure functions: nothing is read or written here.

* **Top confusions** per decider: gold -> decided cells off the diagonal, non-ok outcomes included.
* **Slice impact**: errors per slice (error rate x volume) with a Wilson interval, ranked by the
  *lower* bound of the error count, so a slice of 3 items with 3 errors (lower bound 1.3) does not
  outrank a slice of 200 with 40 errors (lower bound 30).
* **Wrong items**: the decider's errors on items where the raters agreed (or were not recorded):
  non-ok outcomes first, then the most confident errors.
* **Rater splits**: items on which the golden set's own raters gave different labels. They are
  kept apart from model errors: disagreement there is policy ambiguity, not model failure.
* **SOP request**: labels and slices with the lowest rater agreement, with example items, for the
  policy owners to clarify the guideline.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from .intervals import wilson
from ..records.item_file import annotated_items
from ..records.table import DecisionTable, as_table
from ..records import (
    HUMAN_KINDS,
    HUMAN_RATER,
    OUTCOMES_NOT_OK,
    Decision,
    GoldenItem,
    HumanAgreement,
    Interval,
    LabelAgreement,
    Manifest,
    MetricRow,
    MetricsFile,
    SliceAgreement,
    slice_values,
)
from .rows import prediction

__all__ = [
    "Confusion",
    "DeciderCauses",
    "ItemView",
    "PolicyCauses",
    "RaterSplit",
    "SliceImpact",
    "SopRequest",
    "MIN_SLICE_ITEMS",
    "root_causes",
]

MIN_SLICE_ITEMS = 3
"""A slice needs this many items with two or more ratings to be named in the SOP request."""


@dataclass(frozen=True)
class Confusion:
    """One off-diagonal confusion-matrix cell."""

    gold: str
    decided: str
    """A label, or a non-ok outcome (invalid, refusal, error)."""
    count: int
    share: float
    """Share of the decider's errors in this cell."""


@dataclass(frozen=True)
class SliceImpact:
    """Errors of one decider on one slice."""

    key: str
    value: str
    n: int
    errors: int
    error_rate: Interval
    """Wilson 95% interval of ``errors / n``."""
    errors_low: float
    """``n * error_rate.low``: the ranking key (errors we are confident about)."""
    errors_high: float
    above_overall: bool
    """The lower bound of the slice's error rate is above the decider's overall error rate."""


@dataclass(frozen=True)
class ItemView:
    """One decision on one item, with the item's text and what the raters said."""

    item_id: str
    text: str | None
    """None when the run folder has no ``items.jsonl`` row for the item."""
    gold: str | None
    decided: str
    outcome: str
    confidence: float | None
    raw: str | None
    error: str | None
    votes: tuple[tuple[str, int], ...]
    """Rater votes for the policy, most common first."""


@dataclass(frozen=True)
class RaterSplit:
    """An item on which the raters gave different labels."""

    item_id: str
    text: str | None
    gold: str | None
    votes: tuple[tuple[str, int], ...]
    """Label and number of raters, most common first."""
    decided: tuple[tuple[str, str], ...]
    """(decider, its decision) for every non-rater decider."""

    @property
    def majority_share(self) -> float:
        total = sum(c for _, c in self.votes)
        return self.votes[0][1] / total if total else 1.0


@dataclass
class DeciderCauses:
    decider: str
    kind: str
    n: int
    errors: int
    confusions: list[Confusion]
    impacts: list[SliceImpact]
    wrong: list[ItemView]
    """Errors on items the raters agreed on (or with no rater data), ordered as explained above."""
    errors_on_split: int
    """Errors on items where the raters split (shown with the rater splits instead)."""


@dataclass
class SopRequest:
    """What to ask the policy owners to clarify."""

    policy: str
    owner: str
    version: str
    agreement: HumanAgreement
    labels: list[LabelAgreement]
    """Labels from the lowest rater agreement up."""
    label_pairs: list[tuple[str, str, int]]
    """Pairs of labels raters split between, with the number of items, most first."""
    slices: list[SliceAgreement]
    """Slices with the highest share of split items (ranked by the interval's lower bound)."""
    examples: list[RaterSplit]


@dataclass
class PolicyCauses:
    policy: str
    deciders: list[DeciderCauses]
    splits: list[RaterSplit]
    """Items where the raters split, most even split first."""
    n_rated: int
    """Items with two or more rater votes."""
    sop: SopRequest | None = None
    notes: list[str] = field(default_factory=list)


def top_confusions(row: MetricRow, limit: int = 5) -> list[Confusion]:
    """The largest off-diagonal cells of ``row.confusion``."""
    columns = [*row.labels, *OUTCOMES_NOT_OK]
    cells = [
        (row.labels[i], columns[j], count)
        for i, counts in enumerate(row.confusion) for j, count in enumerate(counts)
        if count and i != j
    ]
    errors = sum(c for _, _, c in cells)
    cells.sort(key=lambda c: (-c[2], columns.index(c[0]), columns.index(c[1])))
    return [Confusion(g, d, c, c / errors) for g, d, c in cells[:limit]]


def slice_impacts(overall: MetricRow, slices: Sequence[MetricRow], limit: int = 5
                  ) -> list[SliceImpact]:
    """Slices with the most errors we are confident about (lower bound of n x error rate)."""
    base = 1 - overall.accuracy.value if overall.accuracy.value is not None else None
    out = []
    for r in slices:
        if r.slice is None or not r.n:
            continue
        correct = sum(r.confusion[i][i] for i in range(len(r.labels)))
        errors = r.n - correct
        if not errors:
            continue
        rate = wilson(errors, r.n)
        low, high = rate.low or 0.0, rate.high or 0.0
        out.append(SliceImpact(
            key=r.slice.key, value=r.slice.value, n=r.n, errors=errors, error_rate=rate,
            errors_low=r.n * low, errors_high=r.n * high,
            above_overall=base is not None and low > base,
        ))
    out.sort(key=lambda s: (-s.errors_low, -s.errors, s.key, s.value))
    return out[:limit]


def _votes(rater_rows: Sequence[Decision]) -> dict[str, Counter[str]]:
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for d in rater_rows:
        if d.outcome == "ok" and d.label is not None:
            votes[d.item_id][d.label] += 1
    return votes


def _votes_from_items(items: Mapping[str, GoldenItem], policy: str) -> dict[str, Counter[str]]:
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for item in annotated_items(items):
        for a in item.annotations:
            if policy in a.labels:
                votes[item.id][a.labels[policy]] += 1
    return votes


def _ordered(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _wrong_items(table: DecisionTable, group: NDArray[np.intp], predicted: NDArray[np.intp],
                 items: Mapping[str, GoldenItem], votes: Mapping[str, Counter[str]],
                 split: set[str], limit: int) -> tuple[list[ItemView], int]:
    gold = table.gold_codes[group]
    wrong = group[(gold >= 0) & (predicted[group] != gold)]
    ids = table.item_ids(wrong)
    on_split = sum(i in split for i in ids)
    ok = table.is_value("outcome", "ok")[wrong]
    confidence = np.nan_to_num(table.numbers["confidence"][wrong], nan=-1.0)
    clear = sorted((j for j, i in enumerate(ids) if i not in split),
                   key=lambda j: (bool(ok[j]), -confidence[j], ids[j]))
    views = []
    for d in table.decisions(wrong[clear[:limit]]):
        item = items.get(d.item_id)
        views.append(ItemView(
            item_id=d.item_id, text=item.text if item else None, gold=d.gold,
            decided=prediction(d), outcome=d.outcome, confidence=d.confidence, raw=d.raw,
            error=d.error, votes=_ordered(votes.get(d.item_id, Counter())),
        ))
    return views, on_split


def _sop(policy: str, manifest: Manifest, agreement: HumanAgreement,
         splits: Sequence[RaterSplit], pairs: Counter[tuple[str, str]],
         meta: Mapping[str, Mapping[str, object]], limit: int) -> SopRequest:
    info = manifest.policies.get(policy)
    labels = sorted(agreement.labels, key=lambda a: (a.alpha.value is None,
                                                     a.alpha.value or 0.0, a.label))
    slices = [s for s in agreement.slices if s.n_split and s.n_items >= MIN_SLICE_ITEMS]
    slices.sort(key=lambda s: (-(s.split_rate.low or 0.0), -s.n_items, s.key, s.value))
    slices = slices[:5]
    examples: list[RaterSplit] = []
    seen: set[str] = set()

    def take(candidates: Sequence[RaterSplit], k: int) -> None:
        for sp in candidates:
            if k <= 0 or len(examples) >= limit:
                return
            if sp.item_id not in seen:
                seen.add(sp.item_id)
                examples.append(sp)
                k -= 1

    for s in slices[:3]:
        in_slice = [sp for sp in splits if _in_slice(meta.get(sp.item_id, {}), s.key, s.value)]
        take(in_slice, 1)
    take(splits, limit)
    return SopRequest(
        policy=policy,
        owner=info.owner if info else "the policy owner",
        version=info.version if info else "?",
        agreement=agreement,
        labels=labels,
        label_pairs=[(a, b, c) for (a, b), c in sorted(pairs.items(),
                                                        key=lambda kv: (-kv[1], kv[0]))],
        slices=slices,
        examples=examples,
    )


def _in_slice(meta: Mapping[str, object], key: str, value: str) -> bool:
    return value in slice_values(meta, key)


def root_causes(
    metrics: MetricsFile,
    decisions: DecisionTable | Sequence[Decision],
    items: Mapping[str, GoldenItem],
    manifest: Manifest,
    *,
    n_examples: int = 8,
) -> dict[str, PolicyCauses]:
    """Root-cause views per policy, in the order of ``metrics.results``."""
    table = as_table(decisions)
    is_rater = table.is_value("decider_kind", HUMAN_RATER)
    by_group = table.groups(~is_rater)
    raters: dict[str, list[Decision]] = defaultdict(list)
    for d in table.decisions(np.flatnonzero(is_rater)):
        raters[d.policy].append(d)
    predicted = table.prediction_codes
    rows: dict[str, list[MetricRow]] = defaultdict(list)
    for r in metrics.results:
        rows[r.policy].append(r)
    out: dict[str, PolicyCauses] = {}
    for policy, policy_rows in rows.items():
        votes = _votes(raters[policy]) if raters[policy] else _votes_from_items(items, policy)
        split_ids = {i for i, v in votes.items() if len(v) > 1}
        overall = [r for r in policy_rows if r.slice is None]
        groups = {r.decider: by_group.get((policy, r.decider), np.zeros(0, dtype=np.intp))
                  for r in overall}
        split_codes = [c for c in map(table["item_id"].code, sorted(split_ids)) if c >= 0]
        on_split = {name: group[np.isin(table["item_id"].codes[group], split_codes)]
                    for name, group in groups.items()}
        decided: dict[str, list[tuple[str, str]]] = defaultdict(list)
        gold: dict[str, str | None] = {}
        for r in overall:
            for i in on_split[r.decider]:
                item_id = str(table["item_id"][int(i)])
                decided[item_id].append((r.decider, table.prediction_value(int(i))))
                if r.decider_kind not in HUMAN_KINDS:
                    gold[item_id] = table["gold"][int(i)]
        for item_id in split_ids - gold.keys():
            item = items.get(item_id)
            gold[item_id] = item.labels.get(policy) if item else None
        splits = [
            RaterSplit(item_id=i, text=items[i].text if i in items else None, gold=gold.get(i),
                       votes=_ordered(votes[i]), decided=tuple(decided.get(i, ())))
            for i in split_ids
        ]
        splits.sort(key=lambda s: (s.majority_share, -sum(c for _, c in s.votes), s.item_id))
        pairs: Counter[tuple[str, str]] = Counter()
        for i in split_ids:
            for a, b in combinations(sorted(votes[i]), 2):
                pairs[(a, b)] += 1
        causes = []
        for r in overall:
            correct = sum(r.confusion[i][i] for i in range(len(r.labels)))
            wrong, n_split = ([], 0) if r.decider_kind in HUMAN_KINDS else _wrong_items(
                table, groups[r.decider], predicted, items, votes, split_ids, n_examples)
            causes.append(DeciderCauses(
                decider=r.decider, kind=r.decider_kind, n=r.n, errors=r.n - correct,
                confusions=top_confusions(r),
                impacts=slice_impacts(r, [s for s in policy_rows
                                          if s.decider == r.decider and s.slice is not None]),
                wrong=wrong, errors_on_split=n_split,
            ))
        result = PolicyCauses(policy=policy, deciders=causes, splits=splits,
                              n_rated=sum(sum(v.values()) >= 2 for v in votes.values()))
        agreement = next((a for a in metrics.human_agreement if a.policy == policy), None)
        if agreement is not None:
            result.sop = _sop(policy, manifest, agreement, splits, pairs, table.meta_of, n_examples)
        if not items:
            result.notes.append("The run folder has no items.jsonl: item texts are not shown.")
        out[policy] = result
    return out
