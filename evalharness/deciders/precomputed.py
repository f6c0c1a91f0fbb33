"""Scores already in the golden set (a production classifier's output): one probability of
violating per item and policy, thresholded, or a probability per label (any number of labels)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..inputs.config import RunConfig
from ..records.errors import DeciderError
from ..inputs.policies import Policy
from ..records import Decision, GoldenItem
from .base import Decider, DecisionRequest
from .registry import decider
from .scored import ScoredOptions, check_scored, scored_decision


class PrecomputedDeciderConfig(ScoredOptions):
    """Scores already in the golden set, e.g. from a production classifier."""

    kind: Literal["precomputed"]
    scores: str
    """Key in each item's ``scores`` holding ``{policy: probability of violating}`` or
    ``{policy: {label: probability}}``."""
    threshold: float | None = Field(default=0.5, ge=0, le=1)
    """Two-label policies: the violating label is decided when its probability is at least this
    (``null``: the most probable label). Policies with more labels take the most probable."""


def _binary(policy: Policy) -> bool:
    return len(policy.labels) == 2 and len(policy.violating) == 1


class PrecomputedScores(Decider):
    """Reads ``item.scores[<scores>][<policy>]``: the probability that the item violates (a
    two-label policy), or a mapping label -> probability (``labels:`` may rename its keys).

    An item without a score gets an ``error`` outcome (the classifier had no output for it), not
    a guess; a score that is not a probability gets ``invalid``.
    """

    kind = "precomputed"
    sees_images = None
    recomputable = True

    def __init__(self, config: PrecomputedDeciderConfig, run_config: RunConfig | None = None) -> None:
        super().__init__(config.name)
        self.config = config
        self.run_config = run_config

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        key = self.config.scores
        for policy in policies:
            single = any(not isinstance(it.scores.get(key, {}).get(policy.id), (Mapping, type(None)))
                         for it in items)
            if single and not _binary(policy):
                raise DeciderError(
                    f"policy {policy.id} has {len(policy.labels)} labels, but scores[{key!r}] "
                    "holds one number per item; one number needs one violating and one other label",
                    field=f"deciders.{self.name}",
                    fix=f"store {{{policy.id}: {{label: probability}}}}, or limit this decider "
                        "to binary policies with policies: [...]",
                )
        if self.run_config is not None:  # the default threshold is ignored on multi-label policies
            explicit = "threshold" in self.config.model_fields_set
            check_scored(self.config if explicit else self.config.model_copy(update={"threshold": None}),
                         policies, self.run_config)
        if not any(key in it.scores for it in items):
            raise DeciderError(
                f"no item has scores[{key!r}]",
                field=f"deciders.{self.name}.scores",
                fix="check the key against the golden set's `scores` field",
            )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "scores": self.config.scores,
                "threshold": self.config.threshold, "labels": self.config.labels}

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for request in requests:
            policy = request.policy
            score = request.item.scores.get(self.config.scores, {}).get(policy.id)
            if score is None:
                yield self.decision(request, label=None, outcome="error",
                                    error=f"no {self.config.scores} score for this item")
                continue
            try:
                scored = scored_decision(score, policy, self.config.labels, self.config.threshold)
            except ValueError as exc:
                yield self.decision(request, label=None, outcome="invalid", error=str(exc),
                                    raw=repr(score)[:2000], cost_usd=self.config.cost_per_decision_usd)
                continue
            yield self.decision(
                request, label=scored.label, outcome="ok", confidence=scored.confidence,
                confidence_source="score", scores=scored.scores, latency_s=0.0,
                cost_usd=self.config.cost_per_decision_usd,
            )


@decider("precomputed", options=PrecomputedDeciderConfig)
def _make(config: PrecomputedDeciderConfig, run_config: RunConfig) -> Decider:
    return PrecomputedScores(config, run_config)
