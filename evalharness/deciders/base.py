"""The decider interface: one method, ``decide(requests)``, plus static metadata.

Caching, resume, progress and cost totals live once in :mod:`evalharness.runner`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..policies import Policy
from ..records import Decision, DeciderKind, GoldenItem


@dataclass(frozen=True)
class DecisionRequest:
    """One item to decide under one policy."""

    item: GoldenItem
    policy: Policy

    @property
    def gold(self) -> str | None:
        return self.item.labels.get(self.policy.id)


class Decider(ABC):
    """Gives a label (and, where it can, a confidence) for an item under a policy."""

    kind: DeciderKind

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        """Set by the runner once :meth:`setup` has run."""

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Cheap checks that the decider can run on these items (no model loading or training);
        raise an :class:`~evalharness.errors.EvalHarnessError` naming the fix if not."""

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Prepare before the first decision: load a model, train. Called after :meth:`check`."""

    @abstractmethod
    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        """Decide each request; yield each decision as soon as it is made.

        Yield at least one decision per request whose ``decider`` is ``self.name``; never raise for
        one item's failure: yield an ``error`` outcome instead.
        """

    def describe(self) -> dict[str, Any]:
        """What made these decisions (model id, parameters), for the run manifest."""
        return {"name": self.name, "kind": self.kind}

    def close(self) -> None:
        """Release models, connections or threads."""

    def decision(self, request: DecisionRequest, **fields: Any) -> Decision:
        """A :class:`Decision` for ``request`` with the item's gold and meta filled in."""
        fields.setdefault("gold", request.gold)
        return Decision(
            item_id=request.item.id,
            policy=request.policy.id,
            decider=fields.pop("decider", self.name),
            decider_kind=fields.pop("decider_kind", self.kind),
            meta=request.item.meta,
            **fields,
        )
