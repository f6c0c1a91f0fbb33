"""``run --dry-run``: what a run would call and cost, calling nothing.

Every decider is priced: model deciders by tokens (estimated) times their price, cache hits
free; the human tier by its raters' time — hourly rate × handling seconds, as the run records it
(the judgments are in the golden set, so nobody is paid again for the run, but this is what the
tier costs per decision); precomputed scores at their configured price per decision; classic
models and the embedded model's compute at their configured rate (0 unless set); an ensemble at
its members' cost per decision summed (it calls nothing: that cost is already in its members'
rows, so totals count it once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .cache import ResponseCache, cache_key
from ..deciders import Decider, DecisionRequest, ModelDecider
from ..deciders.base import CombiningDecider
from ..deciders.embedding import EmbeddingDecider
from ..deciders.human import HumanRaters
from .workplan import WorkPlan
from ..records import Usage
from .runner import combining_order, pending_work

CHARS_PER_TOKEN = 4
"""Rough prompt-token estimate; providers' own tokenizers differ by model."""


@dataclass
class DeciderEstimate:
    decider: str
    model: str
    decisions: int
    calls: int
    """Requests not already answered by the cache."""
    cached: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    basis: str = "tokens x price"
    """How ``cost_usd`` was estimated."""
    combined: bool = False
    """An ensemble's row: its cost is its members' (left out of the totals)."""


@dataclass
class RunEstimate:
    rows: list[DeciderEstimate] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        """What every decider's decisions cost, humans and precomputed scores included."""
        return sum(r.cost_usd for r in self.rows if not r.combined)

    @property
    def run_cost_usd(self) -> float:
        """What running costs: the model calls (the other deciders' costs are already paid)."""
        return sum(r.cost_usd for r in self.rows
                   if not r.combined and (r.calls or r.basis.startswith("tokens")))

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.rows)


def estimate_run(plan: WorkPlan, cache: ResponseCache | None, epoch: int = 0) -> RunEstimate:
    """Calls, tokens and cost of a fresh run of ``plan`` (prompt tokens estimated from characters,
    completion tokens from the answer format); cache hits cost nothing."""
    estimate = RunEstimate()
    for unit in pending_work(plan, set()):
        decider = unit.decider
        row = DeciderEstimate(decider=decider.name, model=str(getattr(getattr(decider, "config", None), "model", decider.kind)),
                              decisions=len(unit.requests), calls=0, cached=0)
        estimate.rows.append(row)
        if isinstance(decider, CombiningDecider):
            row.combined, row.basis = True, "sum of its members' cost per decision"
            continue
        if not isinstance(decider, ModelDecider):
            row.cost_usd, row.basis = _priced_without_calls(decider, unit.requests)
            continue
        answer_tokens = ((3 if getattr(decider, "mode", "json") == "text" else 15)
                         * decider.answers_per_call)
        price = getattr(decider, "price", None)
        if price is None:
            rate = float(getattr(decider.config, "compute_cost_per_hour_usd", 0.0) or 0.0)  # type: ignore[attr-defined]
            row.basis = (f"compute at ${rate:g} an hour of run time (not known before the run)"
                         if rate else "compute (no compute_cost_per_hour_usd set: $0)")
        for group in decider.call_groups(unit.requests):  # one call answers a group
            payload = decider.payload(group[0])
            if cache is not None and cache.get(cache_key(payload, epoch)) is not None:
                row.cached += len(group)
                continue
            row.calls += 1
            if "messages" not in payload:  # a classifier behind HTTP: priced per decision
                row.cost_usd += _per_decision_price(decider)
                row.basis = "price per decision"
                continue
            prompt = len(json.dumps(payload["messages"], ensure_ascii=False)) // CHARS_PER_TOKEN
            completion = answer_tokens if price is not None else 0
            row.prompt_tokens += prompt
            row.completion_tokens += completion
            if price is not None:
                row.cost_usd += price.cost(Usage(prompt_tokens=prompt, completion_tokens=completion))
    by_name = {r.decider: r for r in estimate.rows}
    for combining in combining_order(plan.deciders):  # members first: ensembles of ensembles
        row = by_name[combining.name]
        row.cost_usd = row.decisions * sum(_per_decision(by_name, m) for m in combining.members)
    return estimate


def _per_decision(rows: dict[str, DeciderEstimate], name: str) -> float:
    row = rows[name]
    return row.cost_usd / row.decisions if row.decisions else 0.0


def _priced_without_calls(decider: Decider, requests: list[DecisionRequest]) -> tuple[float, str]:
    """Cost of a decider that calls no model, from its configuration alone."""
    if isinstance(decider, HumanRaters):  # the tier's rows: one rater's time per item
        cost = sum(d.cost_usd for d in decider.decide(requests) if d.decider == decider.name)
        return cost, "hourly rate x handling time"
    if isinstance(decider, EmbeddingDecider):
        if decider.options.in_process:
            rate = decider.options.compute_cost_per_hour_usd
            return 0.0, (f"compute at ${rate:g} an hour of run time (not known before the run)"
                         if rate else "compute (no compute_cost_per_hour_usd set: $0)")
        tokens = sum(len(r.item.text) for r in requests) // CHARS_PER_TOKEN
        return tokens * decider.price_per_token, "tokens x price (evaluated items; training items add more)"
    return _per_decision_price(decider) * len(requests), "price per decision"


def _per_decision_price(decider: Decider) -> float:
    options = getattr(decider, "config", None) or getattr(decider, "options", None)
    return float(getattr(options, "cost_per_decision_usd", 0.0) or 0.0)
