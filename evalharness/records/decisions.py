"""``decisions.jsonl`` rows: one decider's decision on one item under one policy."""

from __future__ import annotations

import operator
from typing import Any, Literal

from pydantic import Field

from .base import Record
from .kinds import DeciderKind, Outcome

__all__ = ["Decision", "Usage"]


class Usage(Record):
    """Token usage of one model call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the provider's (or llama.cpp's) prefix cache."""


class Decision(Record):
    """One row of ``decisions.jsonl``: one decider's decision on one item under one policy."""

    schema_version: int = 1
    item_id: str
    policy: str
    decider: str
    """Decider name from the config; per-rater rows are ``<human decider>/<rater>``."""
    decider_kind: DeciderKind
    label: str | None
    """The decided label; null unless ``outcome`` is ``ok``."""
    confidence: float | None = None
    """Probability (0-1) of ``label``, or null when the decider gives none."""
    confidence_source: Literal["logprobs", "probability", "stated", "score", "votes"] | None = None
    """Where the confidence came from; ``stated`` means the model said it (less trustworthy);
    ``votes`` is an ensemble's share of member votes for ``label``."""
    scores: dict[str, float] | None = None
    """Probability per policy label, when the decider gives a distribution."""
    outcome: Outcome
    gold: str | None
    """QA gold for this item and policy (for raters: the leave-one-out majority), or null."""
    cost_usd: float = 0.0
    """What this decision costs to make (tokens x price, compute, or rater time)."""
    latency_s: float | None = None
    """Wall time of the call that made the decision (for raters: handling seconds)."""
    cached: bool = False
    """True when the answer came from the response cache and was not paid for in this run."""
    error: str | None = None
    """Error message when ``outcome`` is ``error``."""
    raw: str | None = None
    """Raw model output, kept for ``invalid`` and ``refusal`` outcomes."""
    usage: Usage | None = None
    attempts: int = 1
    """Calls made for this decision (more than one after retries; 0 when served from cache)."""
    truncated: bool = False
    """The item text was cut in the middle to fit the model's context window."""
    text_only: bool = Field(default=False, exclude_if=operator.not_)
    """The item has images this decider cannot see: it was judged on its text alone. (Left
    out of the line when false, so decisions without images keep their bytes.)"""
    endpoint: str | None = Field(default=None, exclude_if=operator.not_)
    """The replica of a fleet (``api_bases``) that answered the call."""
    bundle: str | None = Field(default=None, exclude_if=operator.not_)
    """The policy bundle whose one call per item made this decision; ``cost_usd`` and ``usage``
    are this policy's even share of that call (``latency_s`` is the whole call's)."""
    rater: str | None = None
    site: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    """The item's meta, copied so slices can be computed from this file alone."""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of this row within a run: (item, policy, decider)."""
        return (self.item_id, self.policy, self.decider)
