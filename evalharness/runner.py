"""Runs every decider over its policies' items and appends each decision as soon as it exists.

Work already in ``decisions.jsonl`` is skipped, so a resumed run does only what is missing and no
(item, policy, decider) row is ever written twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .deciders import Decider, DecisionRequest
from .plan import EvalPlan
from .progress import Progress, make_progress
from .rundir import RunDir, append_decision


@dataclass
class Work:
    """The requests one decider still owes."""

    decider: Decider
    requests: list[DecisionRequest]


def pending_work(plan: EvalPlan, done: set[tuple[str, str, str]]) -> list[Work]:
    """Requests without a decision yet, decider by decider, policy by policy (so the embedded
    model's prompt prefix is reused between consecutive items)."""
    work = []
    for decider in plan.deciders:
        requests = [
            DecisionRequest(item, policy)
            for policy in plan.decider_policies(decider)
            for item in plan.items_for(policy)
            if (item.id, policy.id, decider.name) not in done
        ]
        work.append(Work(decider, requests))
    return work


def execute(plan: EvalPlan, run_dir: RunDir, *, live: bool | None = None) -> Counter[str]:
    """Decide everything still missing in ``run_dir``; returns counts of the new decisions by
    outcome, plus ``cached``.

    ``KeyboardInterrupt`` propagates after everything decided so far has been written.
    """
    done = {d.key for d in run_dir.read_decisions()}
    work = pending_work(plan, done)
    counts: Counter[str] = Counter()
    total = sum(len(w.requests) for w in work)
    with make_progress(total, live=live) as progress, run_dir.open_decisions() as out:
        try:
            for unit in work:
                if unit.requests:
                    _run_decider(plan, unit, out, done, progress, counts)
        finally:
            for decider in plan.deciders:
                decider.close()
    return counts


def _run_decider(plan: EvalPlan, unit: Work, out, done, progress: Progress, counts) -> None:
    decider = unit.decider
    decider.setup(plan.decider_policies(decider), plan.items)
    decider.ready = True
    for decision in decider.decide(unit.requests):
        if decision.key in done:
            continue
        append_decision(out, decision)
        done.add(decision.key)
        if decision.decider == decider.name:
            counts[decision.outcome] += 1
            counts["cached"] += decision.cached
            progress.advance(decision, f"{decider.name} · {decision.policy}")
