"""Ensembles: a vote over other deciders' decisions in the same run ("two cheap models agree").

An ensemble makes no call of its own. For each item and policy it reads its members' decisions
(:class:`~evalharness.deciders.base.CombiningDecider`) and decides by ``vote``:

* ``majority``: the label with the most votes (a plurality; equal most votes is a tie);
* ``weighted``: the same with each member's vote counted at its ``weights`` entry (default 1);
* ``any``: a violating label if any member voted one (the most voted violating label when the
  policy has several), else the most voted other label;
* ``all``: a violating label only if *every* member voted a violating label (the most voted
  one); a member without a vote (an error, invalid or refusal outcome) makes it not-all, so the
  item is cleared with the most voted other label.

A member whose decision is not ``ok`` casts no vote. Vote shares are over the votes cast:
``scores`` holds each label's share, ``confidence`` the decided label's (``confidence_source``
``votes``). When no member voted, the decision is an ``error`` naming the members' outcomes.
``cost_usd`` is the sum of the members' (the ensemble costs what its members cost),
``latency_s`` their maximum (they run side by side), ``cached`` true when every member's was.

A tie decides nothing with ``tie: escalate`` (the default): the decision is the ``invalid``
outcome with ``raw`` saying ``tie: ...`` and the vote shares kept in ``scores``. That is what a
trust-and-safety reviewer expects of members that disagree: the item goes to the next tier, never
auto-actioned or auto-cleared. Routing auto-decides only ``ok`` decisions, so a tie is escalated
whatever the thresholds; reports count it in the ``invalid`` column, visibly undecided (and
wrong in accuracy), never as a guess; and it does not count against the error budget, since
every member worked. (An ``ok`` violating label at confidence 0.5 would instead be acted on by
any action threshold at or below 0.5, and would make the ensemble's precision and action rate
look like a decision it did not make.) ``tie: <label>`` breaks a tie in favour of that label
(``ok``, confidence = its share) when it is one of the tied labels — e.g. ``tie: hate`` to act
when in doubt; a tie between two other labels still escalates, so ``tie: none`` never clears an
item two members called violating in different ways.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..inputs.config import DeciderOptions, RunConfig
from ..inputs.policies import Policy
from ..records import Decision, GoldenItem
from .base import CombiningDecider, Decider, DecisionRequest
from .registry import decider

__all__ = ["EnsembleConfig", "Ensemble", "Tally", "tally"]

Vote = Literal["majority", "weighted", "any", "all"]


class EnsembleConfig(DeciderOptions):
    """A vote over other deciders of this config; makes no call of its own."""

    kind: Literal["ensemble"]
    members: list[str] = Field(min_length=2)
    """Result names of the deciders that vote (``name@variant`` for an llm prompt variant); not
    human deciders, and each must decide every policy this ensemble decides."""
    vote: Vote = "majority"
    """``majority`` (most votes), ``weighted`` (votes times ``weights``), ``any`` (violating if
    any member says so) or ``all`` (violating only if every member says so)."""
    weights: dict[str, float] = Field(default_factory=dict)
    """With ``vote: weighted``: weight of each member's vote (members not listed count 1)."""
    tie: str = "escalate"
    """What a tie decides: ``escalate`` (the ``invalid`` outcome, raw ``tie: ...``: the item goes
    to the next tier) or a policy label, chosen when it is one of the tied labels."""

    @field_validator("members")
    @classmethod
    def _distinct(cls, members: list[str]) -> list[str]:
        repeated = sorted({m for m in members if members.count(m) > 1})
        if repeated:
            raise ValueError(f"each member may be listed once; repeated: {repeated}")
        return members

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        if weights and info.data.get("vote") != "weighted":
            raise ValueError("weights apply to vote: weighted only; set it or drop weights")
        if not weights and info.data.get("vote") == "weighted":
            raise ValueError("vote: weighted needs weights: {member: weight}")
        unknown = sorted(set(weights) - set(info.data.get("members") or []))
        if unknown:
            raise ValueError(f"weights for {unknown}, which are not members")
        bad = sorted(m for m, w in weights.items() if not (w > 0 and math.isfinite(w)))
        if bad:
            raise ValueError(f"weights of {bad} must be positive numbers")
        return weights


@dataclass(frozen=True)
class Tally:
    """The outcome of one vote."""

    label: str | None
    """The decided label; None when the vote ended in a tie that escalates."""
    shares: dict[str, float]
    """Share of the (weighted) votes cast per policy label."""
    tied: tuple[str, ...] = ()
    """The labels with equal most votes, when the vote tied."""


def tally(votes: Mapping[str, str], policy: Policy, *, vote: Vote, members: Sequence[str],
          weights: Mapping[str, float] | None = None, tie: str = "escalate") -> Tally:
    """Decide one item from its members' votes (``member -> label``, ``ok`` decisions only).

    Examples
    --------
    A binary policy (labels ``hate``, ``none``; ``hate`` violating), two members disagreeing:

    >>> from evalharness.inputs.policies import Policy
    >>> p = Policy(id="x", version="1", owner="o", description="d", violating=["hate"],
    ...            labels=[{"name": "hate"}, {"name": "none"}],
    ...            prompt={"system": "s", "user": "{text}"})
    >>> tally({"a": "hate", "b": "none"}, p, vote="majority", members=["a", "b"]).label is None
    True
    >>> tally({"a": "hate", "b": "none"}, p, vote="any", members=["a", "b"]).label
    'hate'
    >>> tally({"a": "hate"}, p, vote="all", members=["a", "b"]).label  # b did not vote
    'none'
    """
    weight = {m: (weights or {}).get(m, 1.0) if vote == "weighted" else 1.0 for m in members}
    labels = policy.label_names
    mass = {label: 0.0 for label in labels}
    for member, label in votes.items():
        mass[label] += weight[member]
    total = sum(mass.values())
    shares = {label: mass[label] / total if total else 0.0 for label in labels}
    violating = [label for label in labels if label in policy.violating]
    others = [label for label in labels if label not in policy.violating]
    if vote == "any":
        pool = violating if any(mass[v] > 0 for v in violating) else others
    elif vote == "all":
        every = len(votes) == len(members) and all(label in violating for label in votes.values())
        pool = violating if every else others
    else:
        pool = labels
    top = max(mass[label] for label in pool)
    tied = tuple(label for label in pool if math.isclose(mass[label], top, abs_tol=1e-9))
    if len(tied) == 1:
        return Tally(tied[0], shares)
    return Tally(tie if tie in tied else None, shares, tied)


class Ensemble(CombiningDecider):
    """Votes over its members' decisions of the same item and policy (see the module doc)."""

    kind = "ensemble"
    sees_images = None
    """Its decisions are ``text_only`` when a member's was."""
    recomputable = True

    def __init__(self, config: EnsembleConfig, run_config: RunConfig) -> None:
        super().__init__(config.name, config.members)
        self.config = config
        self.run_config = run_config

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """A ``tie`` label must be a label of every policy the ensemble decides."""
        tie = self.config.tie
        for policy in policies:
            if tie != "escalate" and tie not in policy.label_names:
                index = next(i for i, d in enumerate(self.run_config.deciders)
                             if d.name == self.name)
                raise self.run_config.problem(
                    f"tie label {tie!r} is not a label of policy {policy.id}",
                    "deciders", index, "tie",
                    fix=f"use escalate or one of {policy.label_names}")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "members": self.members,
                "vote": self.config.vote, "weights": self.config.weights, "tie": self.config.tie}

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for request in requests:
            yield self._decide_one(request, self.member_decisions(request))

    def _decide_one(self, request: DecisionRequest, found: dict[str, Decision]) -> Decision:
        present = list(found.values())
        latencies = [d.latency_s for d in present if d.latency_s is not None]
        common: dict[str, Any] = dict(
            cost_usd=sum(d.cost_usd for d in present),
            latency_s=max(latencies) if latencies else None,
            cached=bool(present) and all(d.cached for d in present),
            text_only=any(d.text_only for d in present),
            attempts=0,
        )
        labels = request.policy.label_names
        votes = {m: d.label for m, d in found.items()
                 if d.outcome == "ok" and d.label in labels}
        if not votes:
            said = ", ".join(f"{m}={found[m].outcome if m in found else 'no decision'}"
                             for m in self.members)
            return self.decision(request, label=None, outcome="error",
                                 error=f"no member voted ({said})", **common)
        result = tally(votes, request.policy, vote=self.config.vote, members=self.members,
                       weights=self.config.weights, tie=self.config.tie)
        if result.label is None:
            cast = ", ".join(f"{m}={label}" for m, label in votes.items())
            return self.decision(request, label=None, outcome="invalid", scores=result.shares,
                                 raw=f"tie: {' = '.join(result.tied)} ({cast})", **common)
        return self.decision(request, label=result.label, outcome="ok",
                             confidence=result.shares[result.label], confidence_source="votes",
                             scores=result.shares, **common)


@decider("ensemble", options=EnsembleConfig)
def _make(config: EnsembleConfig, run_config: RunConfig) -> Decider:
    return Ensemble(config, run_config)
