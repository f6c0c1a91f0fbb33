"""``run --dry-run``: what a run would call and cost, calling nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .cache import ResponseCache, cache_key
from .deciders import ModelDecider
from .plan import EvalPlan
from .records import Usage
from .runner import pending_work

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


@dataclass
class RunEstimate:
    rows: list[DeciderEstimate] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.rows)

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.rows)


def estimate_run(plan: EvalPlan, cache: ResponseCache | None, epoch: int = 0) -> RunEstimate:
    """Calls, tokens and cost of a fresh run of ``plan`` (prompt tokens estimated from characters,
    completion tokens from the answer format); cache hits cost nothing."""
    estimate = RunEstimate()
    for unit in pending_work(plan, set()):
        decider = unit.decider
        row = DeciderEstimate(decider=decider.name, model=str(getattr(getattr(decider, "config", None), "model", decider.kind)),
                              decisions=len(unit.requests), calls=0, cached=0)
        estimate.rows.append(row)
        if not isinstance(decider, ModelDecider):
            continue
        answer_tokens = 3 if getattr(decider, "mode", "json") == "text" else 15
        price = getattr(decider, "price", None)
        for request in unit.requests:
            payload = decider.payload(request)
            if cache is not None and cache.get(cache_key(payload, epoch)) is not None:
                row.cached += 1
                continue
            row.calls += 1
            prompt = len(json.dumps(payload["messages"], ensure_ascii=False)) // CHARS_PER_TOKEN
            completion = answer_tokens if price is not None else 0
            row.prompt_tokens += prompt
            row.completion_tokens += completion
            if price is not None:
                row.cost_usd += price.cost(Usage(prompt_tokens=prompt, completion_tokens=completion))
    return estimate
