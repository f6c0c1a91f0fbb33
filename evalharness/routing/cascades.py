"""Cascades of tiers: automated tiers auto-decide the items inside their thresholds and escalate
the rest; the last tier decides everything left. Simulated over a policy's items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .data import PolicyData

__all__ = ["Cascade", "Simulation", "Step", "simulate", "simulate_lean"]


@dataclass(frozen=True)
class Step:
    """An automated tier: auto-action at ``P >= action``, auto-clear at ``P <= clear``."""

    decider: str
    action: float | None = None
    clear: float | None = None


@dataclass(frozen=True)
class Cascade:
    """Automated tiers in order, then the tier that decides everything left."""

    steps: tuple[Step, ...]
    final: str

    @property
    def tiers(self) -> list[str]:
        return [s.decider for s in self.steps] + [self.final]

    @property
    def name(self) -> str:
        if not self.steps:
            return f"all {self.final}"
        parts = []
        for s in self.steps:
            what = "+".join(w for w, t in (("action", s.action), ("clear", s.clear)) if t is not None)
            parts.append(f"{s.decider} ({what})")
        return " → ".join([*parts, self.final])


@dataclass
class Simulation:
    """Per item: who decided it, how, with which label, and what it cost."""

    pred: NDArray[np.intp]
    """Final label code, or ``L + j`` when the last tier's decision was not ok (undecided)."""
    gold: NDArray[np.intp]
    """The gold every tier of the cascade is graded against (``PolicyData.gold``)."""
    tier: NDArray[np.intp]
    """Index of the deciding tier in ``cascade.tiers``."""
    how: NDArray[np.int8]
    """0 auto-action, 1 auto-clear, 2 decided by the last tier, 3 last tier not ok (undecided)."""
    cost: NDArray[np.float64]
    seconds: NDArray[np.float64]
    site: NDArray[np.object_]
    reached: list[NDArray[np.bool_]]
    """Per tier, the items that reached it."""


def simulate(data: PolicyData, cascade: Cascade) -> Simulation:
    """Run ``cascade`` over every item of ``data``."""
    n = data.n
    n_lab = len(data.labels)
    remaining = np.ones(n, dtype=bool)
    pred = np.full(n, -1, dtype=np.intp)
    tier = np.full(n, -1, dtype=np.intp)
    how = np.full(n, -1, dtype=np.int8)
    cost = np.zeros(n)
    seconds = np.zeros(n)
    site = np.empty(n, dtype=object)
    reached = []
    for j, step in enumerate(cascade.steps):
        d = data.deciders[step.decider]
        reached.append(remaining.copy())
        cost[remaining] += d.cost[remaining]
        scored = remaining & np.isfinite(d.p)
        act = scored & (d.p >= step.action) if step.action is not None else np.zeros(n, bool)
        clr = (scored & (d.p <= step.clear) & ~act) if step.clear is not None else np.zeros(n, bool)
        pred[act], pred[clr] = d.act[act], d.clear[clr]
        took = act | clr
        tier[took] = j
        how[act], how[clr] = 0, 1
        remaining &= ~took
    d = data.deciders[cascade.final]
    reached.append(remaining.copy())
    cost[remaining] += d.cost[remaining]
    seconds[remaining] = d.seconds[remaining]
    site[remaining] = d.site[remaining]
    pred[remaining] = d.pred[remaining]
    tier[remaining] = len(cascade.steps)
    how[remaining] = np.where(d.pred[remaining] < n_lab, 2, 3)
    return Simulation(pred, data.gold, tier, how, cost, seconds, site, reached)


def simulate_lean(data: PolicyData, cascade: Cascade) -> Simulation:
    """:func:`simulate` for the search: only labels, gold and cost are filled in (fast)."""
    final = data.deciders[cascade.final]
    remaining = np.ones(data.n, dtype=bool)
    pred = final.pred
    cost = np.zeros(data.n)
    for step in cascade.steps:
        d = data.deciders[step.decider]
        cost += d.cost * remaining
        took = np.zeros(data.n, dtype=bool)
        if step.action is not None:
            act = remaining & (d.p >= step.action)  # nan (no score) compares False
            pred, took = np.where(act, d.act, pred), act
        if step.clear is not None:
            clr = remaining & (d.p <= step.clear) & ~took
            pred, took = np.where(clr, d.clear, pred), took | clr
        remaining = remaining & ~took
    cost += final.cost * remaining
    empty = np.empty(0)
    return Simulation(pred, data.gold, empty.astype(np.intp), empty.astype(np.int8), cost, empty,
                      empty.astype(object), [])


