"""Helpers shared by the converters: the fixed policy labels, majority votes, duplicate marking."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..records import GoldenItem

POLICY_LABELS: dict[str, tuple[str, str]] = {
    "hate_speech": ("hate", "none"),
    "offensive": ("offensive", "none"),
    "harassment_abuse": ("abuse", "none"),
    "spam_scam": ("spam", "none"),
    "self_harm": ("self_harm", "none"),
    "sexual": ("sexual", "none"),
    "violence": ("violence", "none"),
}
"""Policy id -> (violating label, non-violating label). Every shipped set uses exactly these."""


def verdict(policy: str, violates: bool) -> str:
    """The label of ``policy`` for a yes/no judgment."""
    violating, clean = POLICY_LABELS[policy]
    return violating if violates else clean


def majority(values: Iterable[str]) -> str | None:
    """The value held by more than half of ``values``; None on a tie or a plurality."""
    counts = Counter(values)
    total = sum(counts.values())
    if not total:
        return None
    value, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return value if 2 * n > total else None


def mark_duplicates(items: list[GoldenItem]) -> int:
    """Set ``meta["duplicate_of"]`` to the first item's id on every later item with the same text.

    Returns how many items were marked.
    """
    first: dict[str, str] = {}
    marked = 0
    for item in items:
        original = first.setdefault(item.text, item.id)
        if original != item.id:
            item.meta["duplicate_of"] = original
            marked += 1
    return marked
