"""The viewer's filters: parsed from the page's query string, applied to a :class:`ReviewTable`.

Every filter narrows the rows; values are exact (policy, decider, kind, gold, decided label or
outcome, outcome, ``slice=key:value``), ranges (``conf_min``/``conf_max``, inclusive; rows
without a confidence fail a range), or flags (``agree=yes|no``, ``flipped=1``, ``split=1``,
``queue=1`` or ``queue=<reason>``). ``q`` is a case-insensitive search of item text and id.
A value the table does not know matches nothing; a malformed one is a :class:`QueryError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from .queue import REASONS, Queue
from .table import ReviewTable

__all__ = ["MAX_PAGE", "Query", "QueryError"]

MAX_PAGE = 500
"""Most rows one page returns."""


class QueryError(ValueError):
    """A filter value that cannot be read (the page shows it)."""


@dataclass(frozen=True)
class Query:
    policy: str | None = None
    decider: str | None = None
    kind: str | None = None
    slice: str | None = None
    """``key:value``."""
    gold: str | None = None
    decided: str | None = None
    outcome: str | None = None
    agree: str | None = None
    conf_min: float | None = None
    conf_max: float | None = None
    flipped: bool = False
    split: bool = False
    queue: str | None = None
    """``1`` (any reason) or one of :data:`~.queue.REASONS`."""
    q: str | None = None
    offset: int = 0
    limit: int = 50

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise QueryError(f"unknown filter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values: dict[str, object] = {k: v for k, v in params.items() if v != ""}
        try:
            for name in ("conf_min", "conf_max"):
                if name in values:
                    values[name] = float(values[name])  # type: ignore[arg-type]
            for name in ("offset", "limit"):
                if name in values:
                    values[name] = int(values[name])  # type: ignore[call-overload]
        except ValueError as exc:
            raise QueryError(f"not a number: {exc}") from None
        for name in ("flipped", "split"):
            values[name] = str(values.get(name, "")).lower() in ("1", "true", "yes")
        query = cls(**values)  # type: ignore[arg-type]
        if query.agree not in (None, "yes", "no"):
            raise QueryError("agree: yes or no")
        if query.queue not in (None, "1", *REASONS):
            raise QueryError(f"queue: 1 or one of {', '.join(REASONS)}")
        if query.slice is not None and ":" not in query.slice:
            raise QueryError("slice: key:value, e.g. market:BR")
        if query.offset < 0 or not 1 <= query.limit <= MAX_PAGE:
            raise QueryError(f"offset >= 0 and 1 <= limit <= {MAX_PAGE}")
        return query

    def rows(self, table: ReviewTable, queue: Queue) -> NDArray[np.intp]:
        """The rows that pass every filter, in table order (the queue: most worth it first)."""
        keep = np.ones(table.n, dtype=bool)
        for name, column in (("policy", table.policy), ("decider", table.decider),
                             ("kind", table.kind), ("outcome", table.outcome)):
            value = getattr(self, name)
            if value is not None:
                keep &= column.codes == column.code(value)
        if self.gold is not None:
            keep &= table.gold == (-1 if self.gold == "(none)" else table.code(self.gold))
        if self.decided is not None:
            keep &= table.decided == table.code(self.decided)
        if self.agree is not None:
            keep &= table.agree if self.agree == "yes" else ~table.agree
        if self.conf_min is not None:
            keep &= table.confidence >= self.conf_min  # nan compares false
        if self.conf_max is not None:
            keep &= table.confidence <= self.conf_max
        if self.flipped:
            keep &= table.flipped
        if self.split:
            keep &= table.split
        if self.slice is not None:
            key, _, value = self.slice.partition(":")
            keep &= np.isin(table.item, table.slice_items.get((key, value), []))
        if self.q:
            needle = self.q.casefold()
            items = [c for c, (item_id, text) in enumerate(zip(table.item_ids, table.lowered))
                     if needle in text or needle in item_id.casefold()]
            keep &= np.isin(table.item, items)
        if self.queue is not None:
            keep &= queue.any if self.queue == "1" else queue.by_reason[self.queue]
            picked = np.flatnonzero(keep)
            return picked[np.argsort(-queue.priority[picked], kind="stable")]
        return np.flatnonzero(keep)
