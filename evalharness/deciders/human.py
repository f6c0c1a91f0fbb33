"""Human raters from the golden set, scored and priced like any other decider.

Two kinds of rows come out for each item and policy:

* ``<name>/<rater>`` (kind ``human_rater``): every rater's own judgment, for per-rater and per-site
  scorecards and for rater agreement;
* ``<name>`` (kind ``human``): the single-review human tier, i.e. what one moderator would decide.
  The rater standing for the tier is picked per item with a seeded draw.

Where gold is the majority of these same raters, each rater is graded against the strict majority of
the *other* raters (leave-one-out). When the others tie, that judgment has no gold (``gold`` null):
it is kept in ``decisions.jsonl`` and counted as ``n_no_gold``, never scored against a gold that
contains the rater's own vote. An item no rater judged gets no human row (the human tier is not
evaluated on it, as for unknown gold); its ``n`` says so.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import Field

from ..inputs.config import DeciderOptions, RunConfig
from ..records.errors import DeciderError
from ..inputs.policies import Policy
from ..records import HUMAN_RATER, HUMAN_TIER, Annotation, Decision, GoldenItem
from .base import Decider, DecisionRequest
from .registry import decider


class HumanDeciderConfig(DeciderOptions):
    """The golden set's own raters, scored against QA gold like any other decider."""

    kind: Literal["human"]
    cost_per_hour_usd: float = Field(ge=0)
    """Loaded hourly cost of a moderator (override per site with ``site_cost_per_hour_usd``)."""
    seconds_per_item: float | None = Field(default=None, gt=0)
    """Handling time when the annotations do not record it."""
    sites: dict[str, list[str]] = Field(default_factory=dict)
    """Map site name -> rater ids, when the data has no site."""
    site_cost_per_hour_usd: dict[str, float] = Field(default_factory=dict)
    """Hourly cost per site, where it differs from ``cost_per_hour_usd``."""
    leave_one_out: Literal["auto", "always", "never"] = "auto"
    """Grade each rater against the majority of the *other* raters: ``auto`` does so where the
    golden set says gold came from these raters."""
    seed: int = 0
    """Seed for picking which rater's judgment stands for the single-review human tier."""


def strict_majority(labels: Sequence[str]) -> str | None:
    """The label more than half of ``labels`` agree on, or None."""
    if not labels:
        return None
    label, count = Counter(labels).most_common(1)[0]
    return label if count * 2 > len(labels) else None


def leave_one_out_gold(judgments: Sequence[tuple[str, str]], rater: str) -> str | None:
    """Strict majority of everyone's label but ``rater``'s; None when the others tie or are none."""
    return strict_majority([label for who, label in judgments if who != rater])


class HumanRaters(Decider):
    """The golden set's raters as a decider (per rater, and pooled as the human tier)."""

    kind = HUMAN_TIER
    sees_images = True
    recomputable = True

    def __init__(self, config: HumanDeciderConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self.site_of = {rater: site for site, raters in config.sites.items() for rater in raters}
        self.raters: set[str] = set()

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        ids = {p.id for p in policies}
        judged = [a for it in items for a in it.annotations if ids & a.labels.keys()]
        if not judged:
            raise DeciderError(
                f"the golden set has no rater annotations for {sorted(ids)}",
                field=f"deciders.{self.name}",
                fix="use a golden set with annotations (e.g. hatexplain, convabuse) or drop this decider",
            )
        if self.config.seconds_per_item is None and any(a.seconds is None for a in judged):
            raise DeciderError(
                "some annotations have no handling time and seconds_per_item is not set",
                field=f"deciders.{self.name}.seconds_per_item",
                fix="set seconds_per_item: (average seconds a moderator spends per item)",
            )
        self.raters = {a.rater for a in judged}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "raters": len(self.raters),
            "params": self.config.model_dump(exclude={"name", "kind", "policies"}),
        }

    def site(self, annotation: Annotation) -> str | None:
        return annotation.site or self.site_of.get(annotation.rater)

    def _cost(self, site: str | None, seconds: float) -> float:
        rate = self.config.site_cost_per_hour_usd.get(site or "", self.config.cost_per_hour_usd)
        return rate * seconds / 3600

    def _loo(self, item: GoldenItem) -> bool:
        mode = self.config.leave_one_out
        return mode == "always" or (mode == "auto" and item.gold_from_raters)

    def applies_to(self, request: DecisionRequest) -> bool:
        """Only items some rater judged under the policy (the others are not evaluated)."""
        return any(request.policy.id in a.labels for a in request.item.annotations)

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for request in requests:
            if self.applies_to(request):
                yield from self._decide_one(request)

    def _decide_one(self, request: DecisionRequest) -> Iterator[Decision]:
        policy = request.policy.id
        annotations = [a for a in request.item.annotations if policy in a.labels]
        judgments = [(a.rater, a.labels[policy]) for a in annotations]
        loo = self._loo(request.item)
        rows = []
        for annotation in annotations:
            seconds = annotation.seconds if annotation.seconds is not None else self.config.seconds_per_item
            assert seconds is not None  # checked in setup
            site = self.site(annotation)
            rows.append(dict(
                label=annotation.labels[policy],
                outcome="ok",
                gold=leave_one_out_gold(judgments, annotation.rater) if loo else request.gold,
                cost_usd=self._cost(site, seconds),
                latency_s=seconds,
                rater=annotation.rater,
                site=site,
            ))
        for row in rows:
            yield self.decision(request, decider=f"{self.name}/{row['rater']}",
                                decider_kind=HUMAN_RATER, **row)
        pick = random.Random(f"{self.config.seed}:{request.item.id}:{policy}").randrange(len(rows))
        yield self.decision(request, **rows[pick])


@decider(HUMAN_TIER, options=HumanDeciderConfig)
def _make(config: HumanDeciderConfig, run_config: RunConfig) -> Decider:
    return HumanRaters(config)
