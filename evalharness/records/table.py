"""A run's decisions as columns: what metrics, root causes and routing read at scale.

``decisions.jsonl`` stays the record (append-only, crash-safe, one pydantic-checked line per
decision); a :class:`DecisionTable` is the same decisions, first occurrence of each (item, policy,
decider) kept, as numpy arrays — strings as codes into their distinct values, ``scores`` as one
flat list of (label, value) entries. A million decisions take ~60 MB this way instead of ~1.3 GB
of objects. :meth:`DecisionTable.decisions` gives back full :class:`Decision` objects for the few
rows a report shows (raters, wrong items), re-read from their lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .decisions import Decision

__all__ = ["CODED_FIELDS", "FLAG_FIELDS", "FLOAT_FIELDS", "Coded", "DecisionTable", "TableBuilder", "as_table",
           "canonical", "concat"]

CODED_FIELDS = ("item_id", "policy", "decider", "decider_kind", "label", "gold", "outcome",
                "site", "rater")
"""The string fields kept as codes."""
FLOAT_FIELDS = ("confidence", "cost_usd", "latency_s")
"""The number fields kept, nan where null."""
FLAG_FIELDS = ("cached", "text_only")
"""The true/false fields kept."""


@dataclass(frozen=True)
class Coded:
    """A string column: ``codes[i]`` indexes ``values``; -1 is null."""

    codes: NDArray[np.int32]
    values: tuple[str, ...]

    def lookup(self, mapping: Mapping[str, int], default: int,
               idx: NDArray[np.intp] | None = None) -> NDArray[np.intp]:
        """Each row's (of ``idx``, default all) ``mapping[value]`` (``default`` for null and for
        values not in it)."""
        table = np.array([mapping.get(v, default) for v in self.values] + [default], dtype=np.intp)
        return table[self.codes if idx is None else self.codes[idx]]  # code -1: the last entry

    def code(self, value: str) -> int:
        """The code of ``value``, -1 when no row has it."""
        try:
            return self.values.index(value)
        except ValueError:
            return -1

    def __getitem__(self, i: int) -> str | None:
        c = int(self.codes[i])
        return None if c < 0 else self.values[c]


@dataclass
class DecisionTable:
    """Decisions as columns, row ``i`` = decision ``i`` in file order (first occurrence of each
    (item, policy, decider))."""

    coded: dict[str, Coded]
    """:data:`CODED_FIELDS` by name."""
    numbers: dict[str, NDArray[np.float64]]
    """:data:`FLOAT_FIELDS` by name, nan where null."""
    flags: dict[str, NDArray[np.bool_]]
    """:data:`FLAG_FIELDS` by name."""
    score_start: NDArray[np.int64]
    """Row ``i``'s score entries are ``score_start[i]:score_start[i + 1]``."""
    score_label: Coded
    score_value: NDArray[np.float64]
    meta: list[dict[str, Any]]
    """The item's ``meta`` per item code (``coded["item_id"]``)."""
    line: NDArray[np.int64]
    """Byte offset of each row's line in :attr:`source`; built from objects, its position in
    :attr:`objects`."""
    source: Path | None = None
    objects: Sequence[Decision] | None = field(default=None, repr=False)
    """The decisions themselves, when the table was built from objects in memory."""

    def __len__(self) -> int:
        return len(self.line)

    @property
    def cached(self) -> NDArray[np.bool_]:
        """Rows served from the response cache."""
        return self.flags["cached"]

    def __getitem__(self, name: str) -> Coded:
        return self.coded[name]

    @classmethod
    def of(cls, decisions: Iterable[Decision], *, first_only: bool = True) -> DecisionTable:
        """The table of decisions already in memory (only the first occurrence of each key
        unless not ``first_only``)."""
        decisions = list(decisions)
        builder = TableBuilder()
        for d in decisions:
            builder.add(d)
        table = builder.build(first_only=first_only)
        table.objects = decisions
        return table

    # rows -----------------------------------------------------------------------------------------
    def item_ids(self, idx: NDArray[np.intp]) -> list[str]:
        values = self.coded["item_id"].values
        return [values[c] for c in self.coded["item_id"].codes[idx]]

    def metas(self, idx: NDArray[np.intp]) -> list[dict[str, Any]]:
        return [self.meta[c] for c in self.coded["item_id"].codes[idx]]

    def groups(self, rows: NDArray[np.bool_] | None = None, by: tuple[str, ...] = ("policy", "decider")
               ) -> dict[tuple[str, ...], NDArray[np.intp]]:
        """The rows (of ``rows``, default all) of each distinct combination of the ``by`` fields,
        in order of first appearance, each in file order."""
        picked = np.arange(len(self)) if rows is None else np.flatnonzero(rows)
        key = self.key(by, picked)
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        parts = np.split(picked[order], bounds) if len(order) else []
        parts.sort(key=lambda part: part[0])
        return {tuple(self.coded[name][int(part[0])] for name in by): part  # type: ignore[misc]
                for part in parts}

    def key(self, by: Sequence[str], idx: NDArray[np.intp] | None = None) -> NDArray[np.int64]:
        """One integer per row (of ``idx``, default all) that is equal exactly where the ``by``
        fields all are."""
        codes = {name: self.coded[name].codes if idx is None else self.coded[name].codes[idx]
                 for name in by}
        key = np.zeros(len(self) if idx is None else len(idx), dtype=np.int64)
        for name in by:
            key = key * (len(self.coded[name].values) + 1) + codes[name] + 1
        return key

    def _entries(self, idx: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """The score entries of rows ``idx``, and for each the position in ``idx`` it is of."""
        start = self.score_start[idx]
        counts = self.score_start[idx + 1] - start
        entries = np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return entries, np.repeat(np.arange(len(idx)), counts)

    @cached_property
    def meta_of(self) -> dict[str, dict[str, Any]]:
        """Each item's ``meta`` by item id."""
        return dict(zip(self.coded["item_id"].values, self.meta))

    @cached_property
    def _answers(self) -> tuple[NDArray[np.intp], NDArray[np.intp], tuple[str, ...]]:
        """Gold and prediction (the label when ``ok``, else the outcome) per row, as codes into
        one list of strings (-1: no gold)."""
        words: dict[str, int] = {}
        gold, label, outcome = (self.coded[name].lookup(
            {v: words.setdefault(v, len(words)) for v in self.coded[name].values}, -1)
            for name in ("gold", "label", "outcome"))
        ok = self.is_value("outcome", "ok") & (label >= 0)
        return gold, np.where(ok, label, outcome), tuple(words)

    @property
    def gold_codes(self) -> NDArray[np.intp]:
        """Each row's gold as a code comparable with :attr:`prediction_codes` (-1: none)."""
        return self._answers[0]

    @property
    def prediction_codes(self) -> NDArray[np.intp]:
        """Each row's decided label, or its outcome when not ok, as a code."""
        return self._answers[1]

    @property
    def answer_words(self) -> tuple[str, ...]:
        """The strings :attr:`gold_codes` and :attr:`prediction_codes` index."""
        return self._answers[2]

    def prediction_value(self, i: int) -> str:
        """Row ``i``'s decided label, or its outcome when not ok."""
        return self._answers[2][self._answers[1][i]]

    def is_value(self, name: str, value: str) -> NDArray[np.bool_]:
        """Rows whose ``name`` is ``value``."""
        return self.coded[name].codes == self.coded[name].code(value)

    def has_scores(self, idx: NDArray[np.intp]) -> NDArray[np.bool_]:
        return self.score_start[idx + 1] > self.score_start[idx]

    def score_sums(self, idx: NDArray[np.intp], labels: Sequence[str]) -> NDArray[np.float64]:
        """Per row of ``idx``, its ``scores`` summed over ``labels`` (0 without them)."""
        entries, owner = self._entries(idx)
        wanted = np.isin(self.score_label.codes[entries],
                         [c for c in map(self.score_label.code, labels) if c >= 0])
        return np.bincount(owner[wanted], weights=self.score_value[entries[wanted]],
                           minlength=len(idx))

    def p_violating(self, idx: NDArray[np.intp], violating: Sequence[str]) -> NDArray[np.float64]:
        """Per row of ``idx``, P(violating) as
        :func:`~evalharness.scoring.columns.p_violating` gives it for one decision: its
        ``scores`` summed over ``violating`` and clipped to [0, 1]; nan for a non-ok outcome or
        a row without scores."""
        p = np.full(len(idx), np.nan)
        scored = self.is_value("outcome", "ok")[idx] & self.has_scores(idx)
        p[scored] = np.clip(self.score_sums(idx[scored], violating), 0.0, 1.0)
        return p

    def scores(self, i: int) -> dict[str, float]:
        """Row ``i``'s ``scores``."""
        lo, hi = self.score_start[i], self.score_start[i + 1]
        labels = self.score_label.values
        return {labels[c]: float(v) for c, v in zip(self.score_label.codes[lo:hi],
                                                    self.score_value[lo:hi])}

    def decisions(self, idx: Iterable[int]) -> list[Decision]:
        """The full decisions of rows ``idx``: the objects the table was built from, or their
        lines re-read from :attr:`source`."""
        idx = [int(i) for i in idx]
        if self.objects is not None:
            return [self.objects[int(self.line[i])] for i in idx]  # line: position in objects
        assert self.source is not None, "a table read from a file knows its source"
        out = []
        with open(self.source, "rb") as fh:
            for i in idx:
                fh.seek(int(self.line[i]))
                out.append(Decision.model_validate_json(fh.readline()))
        return out

    def take(self, idx: NDArray[np.intp]) -> DecisionTable:
        """The rows ``idx``, in that order."""
        entries, _ = self._entries(idx)
        counts = self.score_start[idx + 1] - self.score_start[idx]
        return DecisionTable(
            coded={k: Coded(c.codes[idx], c.values) for k, c in self.coded.items()},
            numbers={k: v[idx] for k, v in self.numbers.items()},
            flags={k: v[idx] for k, v in self.flags.items()},
            score_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            score_label=Coded(self.score_label.codes[entries], self.score_label.values),
            score_value=self.score_value[entries], meta=self.meta, line=self.line[idx],
            source=self.source, objects=self.objects)


def as_table(decisions: DecisionTable | Iterable[Decision]) -> DecisionTable:
    """``decisions`` as a table: a table as it is, decisions in memory through
    :meth:`DecisionTable.of`."""
    return decisions if isinstance(decisions, DecisionTable) else DecisionTable.of(decisions)


class TableBuilder:
    """Collects decisions one at a time (as a run writes them or a file is read) into a
    :class:`DecisionTable`."""

    def __init__(self) -> None:
        self._vocab: dict[str, dict[str, int]] = {name: {} for name in CODED_FIELDS}
        self._codes: dict[str, list[int]] = {name: [] for name in CODED_FIELDS}
        self._numbers: dict[str, list[float]] = {name: [] for name in FLOAT_FIELDS}
        self._flags: dict[str, list[bool]] = {name: [] for name in FLAG_FIELDS}
        self._score_counts: list[int] = []
        self._score_labels: dict[str, int] = {}
        self._score_codes: list[int] = []
        self._score_values: list[float] = []
        self._meta: list[dict[str, Any]] = []
        """Each item's meta, by item code."""
        self._lines: list[int] = []
        self._coded = [(name, self._codes[name], self._vocab[name]) for name in CODED_FIELDS]
        self._floats = [(name, self._numbers[name]) for name in FLOAT_FIELDS]

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, decision: Decision, line: int | None = None) -> None:
        """Add one decision; ``line`` is the byte offset of its line (default: its position
        among the added decisions)."""
        values = decision.__dict__
        for name, codes, vocab in self._coded:
            value = values[name]
            codes.append(-1 if value is None else vocab.setdefault(value, len(vocab)))
        item = self._codes["item_id"][-1]
        if item == len(self._meta):  # a new item: codes are handed out in order
            self._meta.append(values["meta"])
        for name, numbers in self._floats:
            value = values[name]
            numbers.append(np.nan if value is None else value)
        for name, flags in self._flags.items():
            flags.append(values[name])
        scores = values["scores"]
        if scores:
            self._score_counts.append(len(scores))
            labels = self._score_labels
            self._score_codes.extend(labels.setdefault(label, len(labels)) for label in scores)
            self._score_values.extend(scores.values())
        else:
            self._score_counts.append(0)
        self._lines.append(len(self._lines) if line is None else line)

    def build(self, source: Path | None = None, *, first_only: bool = True) -> DecisionTable:
        """The table of everything added; rows repeating an earlier (item, policy, decider) are
        dropped (unless not ``first_only``), as
        :meth:`~evalharness.execution.rundir.RunDir.read_decisions` does."""
        counts = np.array(self._score_counts, dtype=np.int64)
        table = DecisionTable(
            coded={name: Coded(np.array(self._codes[name], dtype=np.int32), tuple(self._vocab[name]))
                   for name in CODED_FIELDS},
            numbers={name: np.array(v, dtype=np.float64) for name, v in self._numbers.items()},
            flags={name: np.array(v, dtype=bool) for name, v in self._flags.items()},
            score_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            score_label=Coded(np.array(self._score_codes, dtype=np.int32), tuple(self._score_labels)),
            score_value=np.array(self._score_values, dtype=np.float64),
            meta=list(self._meta),
            line=np.array(self._lines, dtype=np.int64), source=source)
        return first_occurrences(table) if first_only else table


def canonical(table: DecisionTable) -> DecisionTable:
    """The rows sorted by (item id, policy, decider): one order whatever order the decisions were
    written in (concurrent calls, a resumed run, merged shards), so every float sum, mean and
    resample over them comes out the same to the last bit."""
    keys = []
    for name in ("decider", "policy", "item_id"):  # np.lexsort: the last key is the primary one
        column = table.coded[name]
        rank = np.empty(len(column.values) + 1, dtype=np.int64)
        rank[np.argsort(np.array(column.values, dtype=object), kind="stable")] = np.arange(
            len(column.values))
        rank[-1] = -1  # a null code (never for these fields)
        keys.append(rank[column.codes])
    order = np.lexsort(keys)
    return table if np.array_equal(order, np.arange(len(order))) else table.take(order)


def first_occurrences(table: DecisionTable) -> DecisionTable:
    """``table`` without the rows that repeat an earlier row's (item, policy, decider)."""
    _, first = np.unique(table.key(("item_id", "policy", "decider")), return_index=True)
    if len(first) == len(table):
        return table
    return table.take(np.sort(first))


def concat(tables: Sequence[DecisionTable]) -> DecisionTable:
    """The rows of ``tables`` one after the other (first occurrence of each key kept); their
    ``line`` offsets must be into the same file."""
    tables = [t for t in tables if len(t)] or list(tables[:1])
    if len(tables) == 1:
        return tables[0]

    def merged(columns: list[Coded]) -> Coded:
        vocab: dict[str, int] = {}
        parts = []
        for c in columns:
            remap = np.array([vocab.setdefault(v, len(vocab)) for v in c.values] + [-1],
                             dtype=np.int32)
            parts.append(remap[c.codes])
        return Coded(np.concatenate(parts), tuple(vocab))

    coded = {name: merged([t.coded[name] for t in tables]) for name in CODED_FIELDS}
    meta: dict[str, dict[str, Any]] = {}
    for t in tables:
        for item, m in zip(t.coded["item_id"].values, t.meta):
            meta.setdefault(item, m)
    counts = np.concatenate([np.diff(t.score_start) for t in tables])
    table = DecisionTable(
        coded=coded,
        numbers={name: np.concatenate([t.numbers[name] for t in tables]) for name in FLOAT_FIELDS},
        flags={name: np.concatenate([t.flags[name] for t in tables]) for name in FLAG_FIELDS},
        score_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        score_label=merged([t.score_label for t in tables]),
        score_value=np.concatenate([t.score_value for t in tables]),
        meta=[meta[item] for item in coded["item_id"].values],
        line=np.concatenate([t.line for t in tables]), source=tables[-1].source)
    return first_occurrences(table)
