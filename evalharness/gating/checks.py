"""The checks of a gate, one decider on one policy: floors on the candidate, drops versus the
base, the invalid rate and cost. Each returns a :class:`GateCheck`, passed or not."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..records.gate import CostIncrease, Drop, GateCheck, GateFile
from ..stats.binomial import lower_bound, upper_bound
from .rules import label_rule, policy_rule, top_rule

if TYPE_CHECKING:
    from ..records import MetricRow
    from ..records.comparison import DeciderComparison, MetricDelta, PolicyComparison

__all__ = ["decider_checks"]


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "undefined"
    if metric == "cost_per_decision_usd":
        return f"${value:.6g}"
    return f"{value:.3f}"


def _floor_value(row: MetricRow, metric: str, label: str | None) -> tuple[float | None, int, int]:
    """The candidate's value of a floored metric, and its counts (hits, n) where it is a rate."""
    if metric == "cohen_kappa":
        return row.cohen_kappa, 0, 0
    if label is None:
        iv = getattr(row, metric)
        hits = {"accuracy": sum(row.confusion[i][i] for i in range(len(row.labels))),
                "coverage": row.outcomes.get("ok", 0)}[metric]
        return iv.value, hits, row.n
    i = row.labels.index(label)
    tp = row.confusion[i][i]
    if metric == "precision":
        return row.precision[label].value, tp, sum(r[i] for r in row.confusion)
    if metric == "recall":
        return row.recall[label].value, tp, sum(row.confusion[i])
    return row.f1[label].value, 0, 0


def _gold_count(row: MetricRow, label: str) -> int:
    return sum(row.confusion[row.labels.index(label)]) if label in row.labels else 0


def _floor_check(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison, metric: str,
                 label: str | None, floor: float) -> GateCheck:
    row = dc.candidate_metrics
    name = f"{metric}[{label}]" if label else metric
    base = {"check": "floor", "policy": pc.policy, "decider": dc.decider, "metric": metric,
            "label": label, "threshold": floor, "test": gate.test}
    if row is None or row.n == 0:
        return GateCheck(**base, passed=False, n=0,
                         message=f"{name}: no graded candidate decision to check the floor "
                                 f"{floor:g} on (nothing passes on nothing)")
    if label is not None and metric in ("recall", "f1") and not _gold_count(row, label):
        return GateCheck(**base, passed=False, n=0,
                         message=f"{name}: no graded candidate item has gold {label}, so the "
                                 f"floor {floor:g} checks nothing (nothing passes on nothing)")
    value, hits, n = _floor_value(row, metric, label)
    if value is None:
        why = " (never decided)" if metric == "precision" else ""
        return GateCheck(**base, passed=False, n=row.n,
                         message=f"{name} undefined{why}: below floor {floor:g} "
                                 f"(candidate, n={row.n})")
    if gate.test == "point_estimate" or n == 0:
        ok = value >= floor
        how = "point estimate" if gate.test == "point_estimate" else \
            "point estimate: no exact bound for this metric"
        base["test"] = "point_estimate"
        return GateCheck(**base, value=value, passed=ok, n=row.n,
                         message=f"{name} {_fmt(metric, value)} {'>=' if ok else '<'} floor "
                                 f"{floor:g} ({how}; candidate, n={row.n})")
    bound = lower_bound(hits, n, 1 - gate.alpha)
    ok = bound >= floor
    return GateCheck(**base, value=value, bound=bound, passed=ok, n=n,
                     message=f"{name} {_fmt(metric, value)}, one-sided {1 - gate.alpha:.0%} lower "
                             f"bound {bound:.3f} {'>=' if ok else '<'} floor {floor:g} "
                             f"(candidate, n={n})")


def _floor_checks(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison) -> Iterator[GateCheck]:
    for metric in ("accuracy", "cohen_kappa", "coverage"):
        floor = policy_rule(gate, pc.policy, "floors", metric)
        if floor is not None:
            yield _floor_check(gate, pc, dc, metric, None, floor)
    for label in pc.labels:
        for metric in ("precision", "recall", "f1"):
            floor = label_rule(gate, pc.policy, label, label in pc.violating, "floors", metric)
            if floor is not None:
                yield _floor_check(gate, pc, dc, metric, label, floor)


def _drop_check(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison, rule: Drop,
                delta: MetricDelta | None, metric: str, label: str | None) -> GateCheck:
    limit = float(rule if isinstance(rule, (int, float)) else rule.max)
    test = gate.test if isinstance(rule, (int, float)) or rule.test is None else rule.test
    name = f"{metric}[{label}]" if label else metric
    base = {"check": "max_drop", "policy": pc.policy, "decider": dc.decider, "metric": metric,
            "label": label, "threshold": limit, "test": test}
    if dc.n_graded == 0:
        return GateCheck(**base, passed=False, n=0,
                         message=f"{name}: no item graded in both runs, so no drop can be checked "
                                 "(nothing passes on nothing)")
    recall = dc.delta("recall", label) if label is not None and metric in ("recall", "f1") else None
    if recall is not None and not recall.n:
        return GateCheck(**base, passed=False, n=0,
                         message=f"{name}: no item graded in both runs has gold {label}, so no "
                                 "drop can be checked (nothing passes on nothing)")
    if delta is None or delta.worse_by is None:
        sides = [side for side, iv in (("base", delta and delta.base), ("candidate", delta and delta.candidate))
                 if iv is None or iv.value is None]
        return GateCheck(**base, passed=True, skipped=True,
                         message=f"{name}: drop not checked, undefined in the "
                                 f"{' and '.join(sides) or 'either'} run (floors still apply)")
    drop = delta.worse_by
    iv = delta.diff
    shown = (f"{name} {_fmt(metric, delta.base.value)} → {_fmt(metric, delta.candidate.value)} "
             f"(Δ {iv.text(3, signed=True)}"
             + (f", McNemar p={delta.p_value:.3g}" if delta.p_value is not None else "") + ")")
    power = _power_note(gate, delta, limit)
    common = {"value": drop, "n": delta.n, "detectable_drop": delta.detectable_drop,
              "underpowered": delta.detectable_drop is not None and limit < delta.detectable_drop}
    if test == "point_estimate" or delta.drop_bound is None:
        ok = drop <= limit
        how = "point estimate" if test == "point_estimate" else "point estimate: no bound"
        base["test"] = "point_estimate"
        return GateCheck(**base, **common, passed=ok,
                         message=f"{shown}: drop {max(drop, 0.0) + 0.0:.3f} "
                                 f"{'within' if ok else 'more than'} max {limit:g} ({how}){power}")
    bound = delta.drop_bound
    ok = bound < limit
    verdict = (f"not worse by {limit:g} or more (one-sided {1 - gate.alpha:.0%} bound of the drop "
               f"{bound:+.3f} < {limit:g}, {delta.bound_method})" if ok else
               f"cannot rule out a drop of {limit:g} or more (one-sided {1 - gate.alpha:.0%} bound "
               f"of the drop {bound:+.3f} >= {limit:g}, {delta.bound_method})")
    return GateCheck(**base, **common, bound=bound, passed=ok, message=f"{shown}: {verdict}{power}")


def _power_note(gate: GateFile, delta: MetricDelta, limit: float) -> str:
    """The smallest drop this check resolves at its n — flagged as underpowered when the allowed
    drop is below it (an unchanged candidate then fails more often than ``1 - power``)."""
    mdd = delta.detectable_drop
    if mdd is None:
        return ""
    text = (f"; resolves drops of {mdd:.3f} or more at n={delta.n} (an unchanged candidate "
            f"passes with {gate.power:.0%} power)")
    if limit >= mdd:
        return text
    need = _items_for_drop(limit, mdd, delta.n)
    more = (f"about {need:,} items would make it sound" if need is not None
            else "an allowed drop of 0 can never be shown (non-inferiority needs a margin)")
    return (f"; underpowered: the allowed drop {limit:g} is below the smallest drop this check "
            f"resolves at n={delta.n} ({mdd:.3f}, {gate.power:.0%} power), so unchanged "
            f"candidates fail too often; {more}")


def _items_for_drop(limit: float, detectable: float, n: int) -> int | None:
    """Items at which the detectable drop shrinks to ``limit`` (it falls as ``1/sqrt(n)``);
    None for a limit of 0, which no sample size resolves."""
    return math.ceil(n * (detectable / limit) ** 2) if limit > 0 else None


def _drop_checks(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison) -> Iterator[GateCheck]:
    for metric in ("accuracy", "cohen_kappa", "coverage"):
        rule = policy_rule(gate, pc.policy, "max_drop", metric)
        if rule is not None:
            yield _drop_check(gate, pc, dc, rule, dc.delta(metric), metric, None)
    for label in pc.labels:
        for metric in ("precision", "recall", "f1"):
            rule = label_rule(gate, pc.policy, label, label in pc.violating, "max_drop", metric)
            if rule is not None:
                yield _drop_check(gate, pc, dc, rule, dc.delta(metric, label), metric, label)


def _other_checks(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison) -> Iterator[GateCheck]:
    base = {"policy": pc.policy, "decider": dc.decider}
    limit = top_rule(gate, pc.policy, "max_invalid_rate")
    if limit is not None:
        rate = dc.candidate_invalid_rate.value
        n = dc.candidate_decisions
        if rate is None or n == 0:
            yield GateCheck(**base, check="max_invalid_rate", metric="invalid_rate", n=0,
                            threshold=limit, passed=False, test=gate.test,
                            message="invalid rate: no candidate decision to check (nothing "
                                    "passes on nothing)")
        elif gate.test == "point_estimate":
            ok = rate <= limit
            yield GateCheck(**base, check="max_invalid_rate", metric="invalid_rate", value=rate,
                            threshold=limit, passed=ok, n=n, test=gate.test,
                            message=f"invalid rate {_fmt('invalid_rate', rate)} "
                                    f"({'within' if ok else 'over'} max {limit:g}; point "
                                    f"estimate; {n} candidate decisions)")
        else:
            bound = upper_bound(dc.candidate_invalid, n, 1 - gate.alpha)
            ok = bound <= limit
            yield GateCheck(**base, check="max_invalid_rate", metric="invalid_rate", value=rate,
                            threshold=limit, passed=ok, n=n, bound=bound, test=gate.test,
                            message=f"invalid rate {_fmt('invalid_rate', rate)}, one-sided "
                                    f"{1 - gate.alpha:.0%} upper bound {bound:.3f} "
                                    f"({'within' if ok else 'over'} max {limit:g}; "
                                    f"{n} candidate decisions)")
    cost: CostIncrease | None = top_rule(gate, pc.policy, "max_cost_increase")
    if cost is None:
        return
    delta = dc.delta("cost_per_decision_usd")
    b = delta.base.value if delta else None
    c = delta.candidate.value if delta else None
    shown = (f"$/decision {_fmt('cost_per_decision_usd', b)} → "
             f"{_fmt('cost_per_decision_usd', c)} (point estimates)")
    if b is None or c is None:
        yield GateCheck(**base, check="max_cost_increase", metric="cost_per_decision_usd",
                        passed=False, n=0, message=f"{shown}: no item decided in both runs, so "
                                                   "no cost increase can be checked (nothing "
                                                   "passes on nothing)")
        return
    if cost.absolute_usd is not None:
        inc = c - b
        ok = inc <= cost.absolute_usd + 1e-15
        yield GateCheck(**base, check="max_cost_increase", metric="cost_per_decision_usd",
                        label=None, value=inc, threshold=cost.absolute_usd, passed=ok,
                        message=f"{shown}: increase ${inc:.6g} "
                                f"{'within' if ok else 'over'} max ${cost.absolute_usd:g}")
    if cost.relative is not None:
        rel = (c - b) / b if b > 0 else (0.0 if c <= b else float("inf"))
        ok = rel <= cost.relative + 1e-12
        yield GateCheck(**base, check="max_cost_increase", metric="cost_per_decision_usd_relative",
                        value=rel if rel != float("inf") else None, threshold=cost.relative,
                        passed=ok,
                        message=f"{shown}: increase {rel:+.1%} "
                                f"{'within' if ok else 'over'} max +{cost.relative:.0%}")


def decider_checks(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison) -> Iterator[GateCheck]:
    """Every check the gate sets for one decider on one policy."""
    yield from _floor_checks(gate, pc, dc)
    yield from _drop_checks(gate, pc, dc)
    yield from _other_checks(gate, pc, dc)
