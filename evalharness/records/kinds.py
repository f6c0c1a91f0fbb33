"""The shared vocabulary of records: outcomes, decider kinds, and how items fall into slices.

One definition each, used everywhere (metrics, routing, comparisons, reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["DeciderKind", "HUMAN_KINDS", "HUMAN_RATER", "HUMAN_TIER", "MISSING_SLICE",
           "OUTCOMES_NOT_OK", "Outcome", "slice_values"]

Outcome = Literal["ok", "invalid", "refusal", "error"]
OUTCOMES_NOT_OK: tuple[str, ...] = ("invalid", "refusal", "error")
"""Confusion-matrix columns that follow the policy labels, in this order."""

DeciderKind = str
"""A registered decider kind: the built-ins ``llm``, ``classic``, ``precomputed`` and ``human``
(with ``human_rater`` for per-rater rows), or a plugin's."""

HUMAN_TIER = "human"
"""Kind of the single-review human tier (one seeded rater's judgment per item)."""
HUMAN_RATER = "human_rater"
"""Kind of the per-rater rows ``<human decider>/<rater>``."""
HUMAN_KINDS = frozenset({HUMAN_TIER, HUMAN_RATER})
"""Kinds whose decisions are people's."""

MISSING_SLICE = "(missing)"
"""The slice of items that have no value for a slice key."""


def slice_values(meta: Mapping[str, Any], key: str) -> list[str]:
    """The slices an item's ``meta`` puts it in for ``key``: one per value of a list, and
    :data:`MISSING_SLICE` when the key is absent, null, empty or ``""``.

    Examples
    --------
    >>> slice_values({"market": ["US", "BR"]}, "market"), slice_values({}, "market")
    (['US', 'BR'], ['(missing)'])
    """
    value = meta.get(key)
    values = value if isinstance(value, list) else [value]
    found = [str(v) for v in values if v is not None and v != ""]
    return found or [MISSING_SLICE]
