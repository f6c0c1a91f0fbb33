"""The recommended plan within each slice (validation items), and where a tier must not take a
slice's cases although it may overall. Slice numbers are evidence (point estimates with
intervals); only slice *targets* are claims (:mod:`.evaluation`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..stats.strata import VIOLATING
from .cascades import Cascade, Simulation, simulate
from .evaluation import Strata
from .goals import PolicyGoals
from .plans import tier_label
from ..records.routing import SliceRow, ThresholdCheck
from .search import Views

__all__ = ["add_slice_flags", "slice_rows"]


def _flag(who: str, side: str, key: str, value: str, rate: float | None, taken: int,
          goals: PolicyGoals) -> str | None:
    """The flag for a step in one slice, when enough items were taken there and the step's rate
    misses its target (the overall step holds)."""
    if taken < goals.min_slice_items or rate is None:
        return None
    if side == "auto_action" and goals.precision is not None and rate < goals.precision:
        return (f"{who} must not auto-action {key}={value} cases: precision there is {rate:.2f} on "
                f"{taken} validation items, below {goals.precision:.2f}; route this slice past it")
    if side == "auto_clear" and goals.fn_ceiling is not None and rate > goals.fn_ceiling:
        return (f"{who} must not auto-clear {key}={value} cases: {rate:.2f} of the {taken} "
                f"validation items it cleared there are violating, above {goals.fn_ceiling:.2f}; "
                "route this slice past it")
    return None


def _step_rate(strata: Strata, taken: NDArray[np.bool_]) -> float | None:
    return strata.across(taken, numerator=VIOLATING).value(strata.prevalence)


def add_slice_flags(checks: Sequence[ThresholdCheck], val: Views, keys: Sequence[str],
                    goals: PolicyGoals) -> None:
    """Add slice flags to every guaranteed first-tier threshold."""
    for chk in checks:
        if not chk.guaranteed or chk.threshold is None:
            continue
        view = val([chk.decider])
        d = view.deciders[chk.decider]
        scored = np.isfinite(d.p)
        took = scored & ((d.p >= chk.threshold) if chk.side == "auto_action"
                         else (d.p <= chk.threshold))
        for (key, value), mask in view.slice_masks(keys).items():
            strata = Strata.of(view, goals, mask, (key, value))
            t = took[mask]
            flag = _flag(tier_label(d.kind, d.name), chk.side, key, value, _step_rate(strata, t),
                         int(t.sum()), goals)
            if flag:
                chk.slice_flags.append(flag)


def slice_rows(val: Views, cascade: Cascade, keys: Sequence[str], goals: PolicyGoals) -> list[SliceRow]:
    view = val(cascade.tiers)
    if not keys or not view.n:
        return []
    sim: Simulation = simulate(view, cascade)
    conf = goals.confidence
    out = []
    for (key, value), mask in view.slice_masks(keys).items():
        n = int(mask.sum())
        strata = Strata.of(view, goals, mask, (key, value))
        w = strata.prevalence
        called = view.is_violating(sim.pred[mask])
        steps, flags = [], []
        for j, step in enumerate(cascade.steps):
            for side, how in (("auto_action", 0), ("auto_clear", 1)):
                if (step.action if side == "auto_action" else step.clear) is None:
                    continue
                took = ((sim.tier == j) & (sim.how == how))[mask]
                rate = _step_rate(strata, took)
                m = int(took.sum())
                steps.append({"decider": step.decider, "side": side, "taken": m,
                              "share_of_slice": m / n if n else None,
                              ("precision" if side == "auto_action" else "violating_share"): rate})
                flag = _flag(tier_label(view.deciders[step.decider].kind, step.decider), side, key,
                             value, rate, m, goals)
                if flag:
                    flags.append(flag)
        auto = (sim.tier < len(cascade.steps))[mask]
        out.append(SliceRow(
            key=key, value=value, n=n, prevalence=w.violating if w else None,
            automated_share=strata.share(auto, conf),
            violating_precision=strata.across(called, numerator=VIOLATING).interval(w, conf),
            violating_recall=strata.within(called, strata.violating).interval(None, conf),
            steps=steps, flags=flags, judged=n >= goals.min_slice_items))
    return out
