"""The decider interface: one method, ``decide(requests)``, plus static metadata.

Caching, resume, progress and cost totals live once in :mod:`evalharness.execution.runner`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..records.errors import DeciderError
from ..inputs.policies import Policy
from ..records import Decision, DeciderKind, GoldenItem

T = TypeVar("T")


class Embedding(NamedTuple):
    """One text's embedding, with what computing it took (kept so a cached vector still says
    what its decision cost)."""

    vector: NDArray[np.float32]
    seconds: float
    """Wall time of computing it (its share of a batch)."""
    tokens: int
    """Tokens the provider billed for it (0 in-process)."""


class VectorStore(Protocol):
    """Where embeddings outlive a run (the response cache's ``vectors`` table)."""

    def get_vectors(self, keys: Sequence[str]) -> dict[str, Embedding]: ...

    def put_vectors(self, model: str, vectors: Mapping[str, Embedding]) -> None: ...


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
    recomputable = False
    """Its decisions are a pure function of the run's inputs, made here at no cost (stored
    scores, stored ratings, a local classifier, a combination of other decisions): the runner
    writes them in batches, and a batch lost to a kill is made again, identically and for free, by
    ``--resume``. Deciders that call out (or may: user code) write every decision at once."""
    sees_images: bool | None = False
    """Whether the decider is shown an item's images. A text-only decider (False) marks its
    decisions on items with images ``text_only``; None: not known here (stored scores,
    combinations)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        """Set by the runner once :meth:`setup` has run."""
        self.policy_ids: list[str] = []
        """The policies this decider decides (set when a plan is built)."""

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Cheap checks that the decider can run on these items (no model loading or training);
        raise an :class:`~evalharness.records.errors.EvalHarnessError` naming the fix if not."""

    def attach_cache(self, cache: VectorStore | None) -> None:
        """Called by the runner before :meth:`setup` with the run's cache (None with
        ``--no-cache``); deciders that compute embeddings keep them there."""

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Prepare before the first decision: load a model, train. Called after :meth:`check`."""

    def applies_to(self, request: DecisionRequest) -> bool:
        """Whether this decider is evaluated on ``request`` at all (default: always)."""
        return True

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
        fields.setdefault("text_only", self.sees_images is False and bool(request.item.images))
        return Decision(
            item_id=request.item.id,
            policy=request.policy.id,
            decider=fields.pop("decider", self.name),
            decider_kind=fields.pop("decider_kind", self.kind),
            meta=request.item.meta,
            **fields,
        )


DecisionKey = tuple[str, str, str]
"""(item id, policy id, decider name): :attr:`Decision.key`."""


class CombiningDecider(Decider):
    """A decider that calls nothing: it combines what other deciders of the same run
    (:attr:`members`, by result name) decided on the same item and policy.

    The runner runs it after every other decider, in member order (a combining decider may be a
    member of another), and before :meth:`decide` hands it, with :meth:`attach_decisions`, the
    members' decisions of this session and of earlier sessions of a resumed run. It is given
    only requests on which every member that applies has decided (whatever the outcome); the
    rest wait for ``--resume``. Members are checked when the work plan is built: they exist,
    are not people (a human kind), are not itself, form no cycle and cover its policies.
    """

    def __init__(self, name: str, members: Sequence[str]) -> None:
        super().__init__(name)
        self.members: list[str] = list(members)
        """Result names of the deciders whose decisions are combined."""
        self.decisions: Mapping[DecisionKey, Decision] = {}

    def attach_decisions(self, decisions: Mapping[DecisionKey, Decision]) -> None:
        """Called by the runner before :meth:`decide`: the run's decisions by key (at least
        every member's on the requests it is given)."""
        self.decisions = decisions

    def member_decisions(self, request: DecisionRequest) -> dict[str, Decision]:
        """The members' decisions on ``request``, by member name (a member without one is left
        out: it does not apply to the item)."""
        found = {}
        for member in self.members:
            decision = self.decisions.get((request.item.id, request.policy.id, member))
            if decision is not None:
                found[member] = decision
        return found


def check_prompt_variant(policies: Sequence[Policy], variant: str, decider: str) -> None:
    """Every policy must define the prompt variant a decider runs."""
    for policy in policies:
        if variant != "default" and variant not in policy.variants:
            raise DeciderError(
                f"policy {policy.id} has no prompt variant {variant!r}",
                file=str(policy.path) if policy.path else None,
                field=f"deciders.{decider}.prompt_variants",
                fix=f"add variants: {{{variant}: ...}} to the policy, or drop the variant",
            )


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, also from code already inside an event loop (a notebook): then the
    coroutine runs on its own loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
