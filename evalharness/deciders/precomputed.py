"""Scores already in the golden set (a production classifier's output), thresholded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import Field

from ..inputs.config import DeciderOptions, RunConfig
from ..records.errors import DeciderError
from ..inputs.policies import Policy
from ..records import Decision, GoldenItem
from .base import Decider, DecisionRequest
from .registry import decider


class PrecomputedDeciderConfig(DeciderOptions):
    """Scores already in the golden set, e.g. from a production classifier."""

    kind: Literal["precomputed"]
    scores: str
    """Key in each item's ``scores`` holding ``{policy: probability of violating}``."""
    threshold: float = Field(default=0.5, ge=0, le=1)
    """Scores at or above it decide the violating label."""
    cost_per_decision_usd: float = Field(default=0.0, ge=0)
    """What one decision of the production classifier costs."""


class PrecomputedScores(Decider):
    """Reads ``item.scores[<scores>][<policy>]``, the probability that the item violates.

    Works for policies with one violating and one other label. An item without a score gets an
    ``error`` outcome (the classifier had no output for it), not a guess.
    """

    kind = "precomputed"

    def __init__(self, config: PrecomputedDeciderConfig) -> None:
        super().__init__(config.name)
        self.config = config

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        for policy in policies:
            if len(policy.labels) != 2 or len(policy.violating) != 1:
                raise DeciderError(
                    f"policy {policy.id} has {len(policy.labels)} labels; precomputed scores "
                    "need one violating and one other label",
                    field=f"deciders.{self.name}",
                    fix="limit this decider to binary policies with policies: [...]",
                )
        if not any(self.config.scores in it.scores for it in items):
            raise DeciderError(
                f"no item has scores[{self.config.scores!r}]",
                field=f"deciders.{self.name}.scores",
                fix="check the key against the golden set's `scores` field",
            )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "scores": self.config.scores,
                "threshold": self.config.threshold}

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for request in requests:
            policy = request.policy
            score = request.item.scores.get(self.config.scores, {}).get(policy.id)
            if score is None:
                yield self.decision(request, label=None, outcome="error",
                                    error=f"no {self.config.scores} score for this item")
                continue
            violating = policy.violating[0]
            other = next(name for name in policy.label_names if name != violating)
            scores = {violating: float(score), other: 1.0 - float(score)}
            label = violating if score >= self.config.threshold else other
            yield self.decision(
                request, label=label, outcome="ok", confidence=scores[label],
                confidence_source="score", scores=scores, latency_s=0.0,
                cost_usd=self.config.cost_per_decision_usd,
            )


@decider("precomputed", options=PrecomputedDeciderConfig)
def _make(config: PrecomputedDeciderConfig, run_config: RunConfig) -> Decider:
    return PrecomputedScores(config)
