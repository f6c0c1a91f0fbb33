"""A cascade made into a :class:`Plan`: simulated on both splits, its claims tested as one family
on validation items; and each scored decider's first-tier thresholds (one more family)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .cascades import Cascade, Step, simulate
from .claims import Claim, check_claims
from ..records.routing import ClaimCheck
from ..records.kinds import HUMAN_KINDS
from .data import PolicyData
from .evaluation import plan_metrics, split_stats, step_claims, target_claims, traffic_share
from .goals import PolicyGoals
from ..records.routing import Plan, PlanTier, ThresholdCheck
from .search import Views, step_options

__all__ = ["KIND_NAMES", "build_plan", "first_tier_thresholds", "p_name", "tier_label"]

KIND_NAMES = {"llm": "LLM", "classic": "classic", "precomputed": "precomputed-score",
              "human": "human"}
SIDES = ("auto_action", "auto_clear")


def tier_label(kind: str, name: str) -> str:
    """``the LLM tier (smollm2)``."""
    return f"the {KIND_NAMES.get(kind, kind)} tier ({name})"


def p_name(violating: Sequence[str]) -> str:
    return f"P({' or '.join(violating)})" if violating else "P(violating)"


def _threshold(step: Step, side: str) -> float | None:
    return step.action if side == "auto_action" else step.clear


def _rule(step: Step, side: str, violating: Sequence[str]) -> str:
    t = _threshold(step, side)
    return "none" if t is None else f"{p_name(violating)} {'>=' if side == 'auto_action' else '<='} {t:.4g}"


def _step_targets(side: str, goals: PolicyGoals) -> list[str]:
    if side == "auto_action":
        return [f"precision >= {goals.precision:.2f}"] if goals.precision is not None else []
    out = []
    if goals.fn_ceiling is not None:
        out.append(f"violating share of cleared items <= {goals.fn_ceiling:.2f}")
    if goals.recall is not None:
        out.append(f"share of violating items cleared <= {1 - goals.recall:.2f}")
    return out


def _claims_text(checks: Sequence[ClaimCheck]) -> str:
    parts = []
    for c in checks:
        v = c.value.value
        shown = "undefined" if v is None else f"{v:.3f}"
        at = f" at prevalence {c.prevalence:g}" if c.prevalence is not None else ""
        parts.append(f"{c.target}: {shown}{at} — {c.verdict_text}")
    return "; ".join(parts)


def _step_message(who: str, verb: str, policy: str, rule: str, share: float | None,
                  checks: Sequence[ClaimCheck], guaranteed: bool) -> str:
    if guaranteed:
        return (f"{who} can {verb} {policy} items with {rule}: {share or 0:.0%} of all items "
                f"({_claims_text(checks)})")
    return (f"{who} should {verb} no {policy} cases at this target: {rule} was chosen on "
            f"calibration items, and on validation items {_claims_text(checks)}")


def _instruction(step: Step, violating: Sequence[str]) -> str:
    parts = [f"{verb} items with {_rule(step, side, violating)}"
             for side, verb in (("auto_action", "auto-action"), ("auto_clear", "auto-clear"))
             if _threshold(step, side) is not None]
    return f"{' and '.join(parts)}; escalate everything else (and every decision without a score)"


def _items(vc: PolicyData, vv: PolicyData) -> dict[str, object]:
    left = {r: vc.left_out.get(r, 0) + vv.left_out.get(r, 0)
            for r in dict.fromkeys([*vc.left_out, *vv.left_out])}
    return {"used": vc.n + vv.n, "calibration": vc.n, "validation": vv.n, "left_out": left}


def build_plan(cal: Views, val: Views, cascade: Cascade, goals: PolicyGoals, daily_volume: int,
               *, family_alpha: float | None) -> Plan:
    """Simulate ``cascade`` on both splits and test its claims on validation items as one family
    at ``family_alpha`` (None: reported as evidence, nothing guaranteed)."""
    vc, vv = cal(cascade.tiers), val(cascade.tiers)
    sim_c, sim_v = simulate(vc, cascade), simulate(vv, cascade)
    per_step: list[tuple[int, str, list[Claim]]] = [
        (j, side, step_claims(vv, cascade, sim_v, goals, j, side))
        for j, step in enumerate(cascade.steps) for side in SIDES
        if _threshold(step, side) is not None]
    targets = target_claims(vv, sim_v, goals)
    claims = [c for _, _, cs in per_step for c in cs] + targets
    checks = iter(check_claims(claims, confidence=goals.confidence, family_alpha=family_alpha))
    tiers: list[PlanTier] = []
    for j, step in enumerate(cascade.steps):
        d = vc.deciders[step.decider]
        found: dict[str, ThresholdCheck] = {}
        for jj, side, cs in per_step:
            if jj != j:
                continue
            mine = [next(checks) for _ in cs]
            ok = bool(mine) and all(c.guaranteed for c in mine)
            share = traffic_share(vv, sim_v, j, side, goals)
            rule = _rule(step, side, vc.violating)
            found[side] = ThresholdCheck(
                decider=d.name, kind=d.kind, side=side, threshold=_threshold(step, side),  # type: ignore[arg-type]
                rule=rule, targets=_step_targets(side, goals),
                calibration=split_stats(vc, cascade, sim_c, j, side, goals.confidence),
                validation=split_stats(vv, cascade, sim_v, j, side, goals.confidence),
                traffic_share=share, claims=mine, guaranteed=ok,
                message=_step_message(tier_label(d.kind, d.name), side.replace("_", "-"),
                                      vc.policy, rule, share, mine, ok))
        tiers.append(PlanTier(position=j + 1, decider=step.decider, kind=d.kind,
                              role="automated", auto_action=found.get("auto_action"),
                              auto_clear=found.get("auto_clear"),
                              instruction=_instruction(step, vc.violating)))
    last = vc.deciders[cascade.final]
    tiers.append(PlanTier(
        position=len(cascade.steps) + 1, decider=cascade.final, kind=last.kind, role="last",
        instruction=("decide every item" if not cascade.steps else "decide every item escalated to it")
        + ("" if last.kind in HUMAN_KINDS else " with its own label")))
    target_checks = list(checks)
    every = [c for t in tiers for chk in (t.auto_action, t.auto_clear) if chk for c in chk.claims]
    every = [c for c in every + target_checks if c.verdict != "not_judged"]
    if every and all(c.guaranteed for c in every):
        verdict = "guaranteed"
    elif every and all(c.verdict != "misses" for c in every):
        verdict = "meets_point_estimate"
    else:
        verdict = "misses"
    return Plan(
        name=cascade.name, tiers=tiers, items=_items(vc, vv),
        expected=plan_metrics(vv, cascade, sim_v, goals, daily_volume, production=False),
        production=plan_metrics(vv, cascade, sim_v, goals, daily_volume, production=True)
        if goals.production else None,
        calibration=plan_metrics(vc, cascade, sim_c, goals, daily_volume, production=True),
        target_checks=target_checks, tested=family_alpha is not None, verdict=verdict,  # type: ignore[arg-type]
    )


def first_tier_thresholds(cal: Views, val: Views, goals: PolicyGoals) -> list[ThresholdCheck]:
    """Each scored decider as the first tier: the eligible auto-action and auto-clear thresholds
    that take the most calibration items, their claims tested together on validation items as
    one family."""
    specs: list[tuple[str, str, float | None]] = []
    for name, d in cal.data.deciders.items():
        if not d.scored:
            continue
        view = cal([name])
        acts, clears = step_options(view, name, np.ones(view.n, dtype=bool), goals)
        specs.append((name, "auto_action", acts[0][0] if acts else None))
        specs.append((name, "auto_clear", clears[0][0] if clears else None))
    runs = []
    for name, side, t in specs:
        step = Step(name, t, None) if side == "auto_action" else Step(name, None, t)
        cascade = Cascade((step,), name)
        vc, vv = cal([name]), val([name])
        sim_c, sim_v = simulate(vc, cascade), simulate(vv, cascade)
        claims = step_claims(vv, cascade, sim_v, goals, 0, side) if t is not None else []
        runs.append((name, side, step, cascade, vc, vv, sim_c, sim_v, claims))
    checks = iter(check_claims([c for *_, cs in runs for c in cs], confidence=goals.confidence,
                               family_alpha=goals.family_alpha))
    out = []
    for name, side, step, cascade, vc, vv, sim_c, sim_v, claims in runs:
        d = vc.deciders[name]
        mine = [next(checks) for _ in claims]
        who, verb = tier_label(d.kind, name), side.replace("_", "-")
        targets = _step_targets(side, goals)
        rule = _rule(step, side, vc.violating)
        share = traffic_share(vv, sim_v, 0, side, goals)
        ok = bool(mine) and all(c.guaranteed for c in mine)
        if not targets:
            message = (f"{who} may not {verb} {vc.policy} cases: no "
                       + ("precision target" if side == "auto_action"
                          else "false-negative ceiling or recall target") + " is set")
        elif _threshold(step, side) is None:
            message = (f"{who} should {verb} no {vc.policy} cases at this target: no threshold on "
                       f"{p_name(vc.violating)} meets {' and '.join(targets)} on calibration "
                       "items with the margin needed to hold on validation")
        else:
            message = _step_message(who, verb, vc.policy, rule, share, mine, ok)
        out.append(ThresholdCheck(
            decider=name, kind=d.kind, side=side, threshold=_threshold(step, side),  # type: ignore[arg-type]
            rule=rule, targets=targets,
            calibration=split_stats(vc, cascade, sim_c, 0, side, goals.confidence),
            validation=split_stats(vv, cascade, sim_v, 0, side, goals.confidence),
            traffic_share=share, claims=mine, guaranteed=ok, message=message))
    return out
