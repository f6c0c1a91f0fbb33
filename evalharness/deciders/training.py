"""Training items for deciders that fit a model inside the run (``classic``, ``embedding``): a
labeled golden set disjoint from the evaluated items, with at least two classes per policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..inputs.config import GoldenSetSpec, RunConfig
from ..inputs.selection import select_items
from ..inputs.policies import Policy
from ..records import GoldenItem

__all__ = ["TrainingSet"]


class TrainingSet:
    """The ``train:`` block of one decider: its items, checked against the evaluated items."""

    def __init__(self, spec: GoldenSetSpec, run_config: RunConfig, decider: str) -> None:
        self.spec = spec
        self.run_config = run_config
        self.decider = decider
        self.items: list[GoldenItem] = []

    def where(self, *field: Any) -> tuple[Any, ...]:
        """The config location of this decider's ``train`` block (or a field under it)."""
        index = next(i for i, d in enumerate(self.run_config.deciders) if d.name == self.decider)
        return ("deciders", index, "train", *field)

    def problem(self, message: str, fix: str) -> Exception:
        return self.run_config.problem(message, *self.where(), fix=fix)

    def labeled(self, policy: Policy) -> list[tuple[str, str]]:
        """(text, label) of the training items labeled for ``policy``."""
        return [(it.text, it.labels[policy.id]) for it in self.items if policy.id in it.labels]

    def load(self, policies: Sequence[Policy], evaluated: Sequence[GoldenItem]) -> None:
        """Read the items; refuse overlap with the evaluated items, labels the policy lacks, or a
        single class."""
        self.items = select_items(self.spec, self.run_config.resolve(self.spec.path))
        overlap = sorted({it.id for it in self.items} & {it.id for it in evaluated})
        if overlap:
            raise self.problem(
                f"{len(overlap)} training item ids are also evaluated (e.g. {overlap[:3]})",
                fix="train on a disjoint set: filter the training set (e.g. by meta.split) "
                    "or use another golden set")
        for policy in policies:
            labeled = self.labeled(policy)
            classes = sorted({label for _, label in labeled})
            unknown = sorted(set(classes) - set(policy.label_names))
            if unknown:
                raise self.problem(
                    f"training labels {unknown} for {policy.id} are not labels of the policy",
                    fix=f"use a training set labeled with {policy.label_names}")
            if len(classes) < 2:
                raise self.problem(
                    f"the training set has {len(labeled)} items labeled for {policy.id} "
                    f"with classes {classes}; at least two classes are needed",
                    fix=f"train on a set with labels.{policy.id}, or limit the decider with "
                        "policies: [...]")

    def counts(self, policy: Policy) -> dict[str, int]:
        """Training items per label."""
        out: dict[str, int] = {}
        for _, label in self.labeled(policy):
            out[label] = out.get(label, 0) + 1
        return dict(sorted(out.items()))
