"""Regression gates: a YAML file of checks, applied to a :class:`~evalharness.compare.CompareResult`.

A gate file (``extra="forbid"``: an unknown or misspelt key is an error naming its line)::

    schema_version: 2
    alpha: 0.05                 # one-sided level of every check
    test: non_inferiority       # a check passes only when the data show it: the one-sided bound
                                # of the drop is below the allowed drop, a floor is below the
                                # candidate's lower bound; `point_estimate` compares estimates
                                # (labelled as such: not a guarantee)
    power: 0.8                  # for the detectable drop printed beside every drop check
    deciders: [smollm2]         # default: every non-human decider in both runs
    require_complete: true      # both runs must have finished
    defaults:                   # checks for every compared policy
      floors: {accuracy: 0.5}                     # candidate minimums: accuracy, cohen_kappa, coverage
      max_drop: {accuracy: 0.03}                  # largest drop versus base (0.03 = three points)
      labels:                                     # per label; `violating` = each violating label,
        violating:                                # `all` = every label
          floors: {precision: 0.3, recall: 0.5}
          max_drop: {recall: 0.05, f1: {max: 0.05, test: point_estimate}}
      max_invalid_rate: 0.05                      # share of the candidate's decisions
      max_cost_increase: {relative: 0.20, absolute_usd: 0.0001}   # per decision, versus base
    policies:                   # per-policy overrides, key by key (null switches a check off)
      hate_speech:
        labels:
          hate: {floors: {recall: 0.6}}

For a label's check the most specific setting wins: the policy's entry for the label, then its
``violating`` entry, then its ``all`` entry, then the same three under ``defaults``.

Floors and the invalid rate are checked on the candidate's own metrics over all its items; drops
and cost on the items both runs decided.

What a verdict means: with ``test: non_inferiority`` (the default) every drop check is a one-sided
non-inferiority test at ``alpha`` against its allowed drop, every floor and the invalid-rate limit
a one-sided bound, so a passing gate is an intersection–union test: if any checked metric really
dropped by its allowed amount or more (or sits below its floor), the gate passes with probability
at most ``alpha``. Each drop check states the smallest drop it can detect at its n with ``power``
and is flagged when its allowed drop is below that (it would then fail unchanged candidates too
often; the message says how many items would make it sound). Cost is checked on the point
estimate. A check over no items fails: nothing passes on nothing.

Version 1 files (``significant_only: true|false``) are read as ``test: non_inferiority`` and
``test: point_estimate``. The verdict is a :class:`GateResult` (written to disk by the CLI with
``--json``, and as JUnit XML by :mod:`evalharness.junit`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .errors import ConfigError
from .stats.binomial import lower_bound, upper_bound
from .yamlfile import YamlDocument, load_yaml, parse_model

if TYPE_CHECKING:
    from .compare import CompareResult, DeciderComparison, MetricDelta, PolicyComparison
    from .records import MetricRow

__all__ = ["GateCheck", "GateFile", "GateResult", "check_gate", "load_gate"]

LABEL_KEYS = ("violating", "all")
"""Keys of ``labels:`` that stand for a group of labels rather than one label."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------
# the gate file
# ------------------------------------------------------------------------------------------------


Test = Literal["non_inferiority", "point_estimate"]


def _migrate_significant_only(data: Any) -> Any:
    """Version 1 said ``significant_only: true|false``; version 2 says ``test:``."""
    if isinstance(data, dict) and "significant_only" in data and "test" not in data:
        data = dict(data)
        flag = data.pop("significant_only")
        if flag is not None:
            data["test"] = "non_inferiority" if flag else "point_estimate"
    return data


class DropLimit(_Strict):
    """The largest allowed drop of one metric versus the base run."""

    max: float = Field(ge=0)
    """Allowed drop in the metric's units (0.05 = five points of recall)."""
    test: Test | None = None
    """Override the gate's ``test`` for this metric."""

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        return _migrate_significant_only(data)


Drop = float | DropLimit
"""A bare number is ``{max: number}``."""


class PolicyFloors(_Strict):
    """Minimums for the candidate (null = no floor)."""

    accuracy: float | None = Field(default=None, ge=0, le=1)
    cohen_kappa: float | None = Field(default=None, ge=-1, le=1)
    coverage: float | None = Field(default=None, ge=0, le=1)
    """Share of decisions with outcome ``ok``."""


class PolicyDrops(_Strict):
    """Largest allowed drops versus base of policy-wide metrics."""

    accuracy: Drop | None = None
    cohen_kappa: Drop | None = None
    coverage: Drop | None = None


class LabelFloors(_Strict):
    precision: float | None = Field(default=None, ge=0, le=1)
    recall: float | None = Field(default=None, ge=0, le=1)
    f1: float | None = Field(default=None, ge=0, le=1)


class LabelDrops(_Strict):
    precision: Drop | None = None
    recall: Drop | None = None
    f1: Drop | None = None


class LabelChecks(_Strict):
    """Checks on one label (or on each label of a group: ``violating``, ``all``)."""

    floors: LabelFloors | None = None
    max_drop: LabelDrops | None = None


class CostIncrease(_Strict):
    """Largest allowed increase in cost per decision; give one or both."""

    absolute_usd: float | None = Field(default=None, ge=0)
    """In dollars per decision."""
    relative: float | None = Field(default=None, ge=0)
    """As a share of the base cost (0.2 = +20%)."""

    @model_validator(mode="after")
    def _one(self) -> CostIncrease:
        if self.absolute_usd is None and self.relative is None:
            raise ValueError("give absolute_usd, relative or both")
        return self


class Checks(_Strict):
    """The checks for one policy (or, under ``defaults``, for every policy)."""

    floors: PolicyFloors | None = None
    max_drop: PolicyDrops | None = None
    labels: dict[str, LabelChecks] = Field(default_factory=dict)
    """Per label name, or ``violating`` (each violating label) or ``all`` (every label)."""
    max_invalid_rate: float | None = Field(default=None, ge=0, le=1)
    """Largest share of the candidate's decisions with outcome ``invalid``."""
    max_cost_increase: CostIncrease | None = None


class GateFile(_Strict):
    """A regression gate (``configs/gate.yaml``)."""

    schema_version: int = 2
    """Layout version of this file (1: ``significant_only``, read as ``test``)."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    """One-sided level of every check; intervals in the comparison are at 1 - alpha."""
    test: Test = "non_inferiority"
    """``non_inferiority``: a drop check passes only when the one-sided upper bound of the drop
    is below the allowed drop, a floor only when the candidate's lower bound clears it.
    ``point_estimate``: estimates are compared (labelled as such; not a guarantee)."""
    power: float = Field(default=0.8, gt=0, lt=1)
    """Power of the detectable drop stated for every drop check."""
    deciders: list[str] | None = None
    """Deciders the gate applies to (default: every non-human decider in both runs)."""
    require_complete: bool = True
    """Fail when either run did not finish."""
    defaults: Checks = Field(default_factory=Checks)
    policies: dict[str, Checks] = Field(default_factory=dict)
    """Per policy id: checks that override ``defaults`` key by key."""

    _source: YamlDocument | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        return _migrate_significant_only(data)

    @property
    def path(self) -> str | None:
        return str(self._source.path) if self._source else None

    def problem(self, message: str, *loc: Any, fix: str | None = None) -> ConfigError:
        """A :class:`ConfigError` pointing at ``loc`` in the gate file."""
        return ConfigError(
            message,
            file=self.path,
            line=self._source.line_of(loc) if self._source else None,
            field=".".join(str(p) for p in loc) or None,
            fix=fix,
        )


def load_gate(path: Path | str) -> GateFile:
    """Read and check a gate file; errors name the file, line and field (exit 2)."""
    doc = load_yaml(Path(path), ConfigError)
    if doc.data is None:
        raise ConfigError("the gate file is empty", file=str(path), line=1,
                          fix="see configs/gate.yaml for an example")
    gate = parse_model(GateFile, doc, ConfigError)
    assert isinstance(gate, GateFile)
    gate._source = doc
    return gate


# ------------------------------------------------------------------------------------------------
# the verdict
# ------------------------------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


CheckKind = Literal["complete", "policy_present", "decider_present", "floor", "max_drop",
                    "max_invalid_rate", "max_cost_increase"]


class GateCheck(_Record):
    """One check of one decider on one policy (or of a run)."""

    check: CheckKind
    policy: str | None = None
    decider: str | None = None
    metric: str | None = None
    label: str | None = None
    value: float | None = None
    """What was measured: the candidate's value, or the drop/increase versus base."""
    threshold: float | None = None
    passed: bool
    skipped: bool = False
    """Could not be evaluated (e.g. the metric is undefined in the base run); counts as passed."""
    test: Test | None = None
    """How the check was decided: ``non_inferiority`` (a one-sided bound) or ``point_estimate``."""
    bound: float | None = None
    """Non-inferiority: the one-sided bound the threshold was compared with."""
    n: int | None = None
    """Items the check is computed on."""
    detectable_drop: float | None = None
    """Drop checks: the smallest true drop the check detects at its n with the gate's power."""
    underpowered: bool = False
    """Drop checks: the allowed drop is below the detectable drop."""
    message: str
    """One line saying what was checked and what came out."""

    @property
    def name(self) -> str:
        """Test-case name: the check and the metric it is about."""
        what = self.metric or ""
        if self.label:
            what += f"[{self.label}]"
        return f"{self.check} {what}".strip()

    def line(self) -> str:
        """``policy · decider · message``, for terminals and PR comments."""
        parts = [p for p in (self.policy, self.decider) if p]
        return " · ".join([*parts, self.message])


class GateResult(_Record):
    """A gate's verdict on one comparison: every check, passed or not."""

    schema_version: int = 1
    """Layout version of this record."""
    gate_file: str | None
    passed: bool
    checks: list[GateCheck]
    notes: list[str] = Field(default_factory=list)

    @property
    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]


# ------------------------------------------------------------------------------------------------
# checking
# ------------------------------------------------------------------------------------------------


def _chain(gate: GateFile, policy: str) -> list[Checks]:
    """Checks to consult for a policy, most specific first."""
    return [gate.policies[policy], gate.defaults] if policy in gate.policies else [gate.defaults]


def _setting(model: BaseModel | None, name: str) -> tuple[bool, Any]:
    if model is None or name not in model.model_fields_set:
        return False, None
    return True, getattr(model, name)


def _policy_rule(gate: GateFile, policy: str, group: str, metric: str) -> Any:
    """The most specific value of ``<group>.<metric>`` (e.g. floors.accuracy) for a policy."""
    for checks in _chain(gate, policy):
        found, sub = _setting(checks, group)
        if not found:
            continue
        if sub is None:
            return None
        found, value = _setting(sub, metric)
        if found:
            return value
    return None


def _label_rule(gate: GateFile, policy: str, label: str, violating: bool, group: str,
                metric: str) -> Any:
    keys = [label, *(["violating"] if violating else []), "all"]
    for checks in _chain(gate, policy):
        for key in keys:
            entry = checks.labels.get(key)
            found, sub = _setting(entry, group)
            if not found:
                continue
            if sub is None:
                return None
            found, value = _setting(sub, metric)
            if found:
                return value
    return None


def _top_rule(gate: GateFile, policy: str, name: str) -> Any:
    for checks in _chain(gate, policy):
        found, value = _setting(checks, name)
        if found:
            return value
    return None


def _check_label_names(gate: GateFile, result: CompareResult) -> None:
    """A label key must be a label of its policy (or, under ``defaults``, of some compared
    policy): a misspelt label would otherwise switch its checks off without a word."""
    every = {label for pc in result.policies for label in pc.labels}
    for pc in result.policies:
        for key in gate.policies.get(pc.policy, Checks()).labels:
            if key not in pc.labels and key not in LABEL_KEYS:
                raise gate.problem(
                    f"policy {pc.policy} has no label {key!r}", "policies", pc.policy, "labels",
                    key, fix=f"use one of {[*pc.labels, *LABEL_KEYS]}")
    if result.policies:
        for key in gate.defaults.labels:
            if key not in every and key not in LABEL_KEYS:
                raise gate.problem(
                    f"no compared policy has a label {key!r}", "defaults", "labels", key,
                    fix=f"use one of {sorted(every) + list(LABEL_KEYS)}")


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
        floor = _policy_rule(gate, pc.policy, "floors", metric)
        if floor is not None:
            yield _floor_check(gate, pc, dc, metric, None, floor)
    for label in pc.labels:
        for metric in ("precision", "recall", "f1"):
            floor = _label_rule(gate, pc.policy, label, label in pc.violating, "floors", metric)
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
    if delta is None or delta.worse_by is None:
        sides = [side for side, iv in (("base", delta and delta.base), ("candidate", delta and delta.candidate))
                 if iv is None or iv.value is None]
        return GateCheck(**base, passed=True, skipped=True,
                         message=f"{name}: drop not checked, undefined in the "
                                 f"{' and '.join(sides) or 'either'} run (floors still apply)")
    drop = delta.worse_by
    iv = delta.diff
    shown = (f"{name} {_fmt(metric, delta.base.value)} → {_fmt(metric, delta.candidate.value)} "
             f"(Δ {iv.value:+.3f}"
             + (f" [{iv.low:+.3f}, {iv.high:+.3f}]" if iv.low is not None and iv.high is not None else "")
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
    need = items_for_drop(limit, mdd, delta.n)
    more = (f"about {need:,} items would make it sound" if need is not None
            else "an allowed drop of 0 can never be shown (non-inferiority needs a margin)")
    return (f"; underpowered: the allowed drop {limit:g} is below the smallest drop this check "
            f"resolves at n={delta.n} ({mdd:.3f}, {gate.power:.0%} power), so unchanged "
            f"candidates fail too often; {more}")


def items_for_drop(limit: float, detectable: float, n: int) -> int | None:
    """Items at which the detectable drop shrinks to ``limit`` (it falls as ``1/sqrt(n)``);
    None for a limit of 0, which no sample size resolves."""
    return math.ceil(n * (detectable / limit) ** 2) if limit > 0 else None


def _drop_checks(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison) -> Iterator[GateCheck]:
    for metric in ("accuracy", "cohen_kappa", "coverage"):
        rule = _policy_rule(gate, pc.policy, "max_drop", metric)
        if rule is not None:
            yield _drop_check(gate, pc, dc, rule, dc.delta(metric), metric, None)
    for label in pc.labels:
        for metric in ("precision", "recall", "f1"):
            rule = _label_rule(gate, pc.policy, label, label in pc.violating, "max_drop", metric)
            if rule is not None:
                yield _drop_check(gate, pc, dc, rule, dc.delta(metric, label), metric, label)


def _other_checks(gate: GateFile, pc: PolicyComparison, dc: DeciderComparison) -> Iterator[GateCheck]:
    base = {"policy": pc.policy, "decider": dc.decider}
    limit = _top_rule(gate, pc.policy, "max_invalid_rate")
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
    cost: CostIncrease | None = _top_rule(gate, pc.policy, "max_cost_increase")
    if cost is None:
        return
    delta = dc.delta("cost_per_decision_usd")
    b = delta.base.value if delta else None
    c = delta.candidate.value if delta else None
    shown = (f"$/decision {_fmt('cost_per_decision_usd', b)} → "
             f"{_fmt('cost_per_decision_usd', c)} (point estimates)")
    if b is None or c is None:
        yield GateCheck(**base, check="max_cost_increase", metric="cost_per_decision_usd",
                        passed=True, skipped=True, message=f"{shown}: not checked (no decisions)")
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


def _gated_deciders(gate: GateFile, pc: PolicyComparison) -> tuple[list[DeciderComparison],
                                                                   list[GateCheck]]:
    if gate.deciders is None:
        return [d for d in pc.deciders if d.decider_kind not in ("human", "human_rater")], []
    chosen, missing = [], []
    for name in gate.deciders:
        dc = pc.decider(name)
        if dc is not None:
            chosen.append(dc)
            continue
        if name not in pc.deciders_only_in_base and name not in pc.deciders_only_in_candidate:
            missing.append(GateCheck(  # e.g. a decider the config limits to other policies
                check="decider_present", policy=pc.policy, decider=name, passed=True, skipped=True,
                message=f"decider {name} decides no {pc.policy} items in either run"))
            continue
        where = "base" if name in pc.deciders_only_in_base else "candidate"
        missing.append(GateCheck(
            check="decider_present", policy=pc.policy, decider=name, passed=False,
            message=f"the gate names decider {name}, which is in the {where} run only: nothing "
                    "to compare (fix the runs or the gate's deciders:)"))
    return chosen, missing


def _check_decider_names(gate: GateFile, result: CompareResult) -> None:
    """A decider the gate names must be in at least one run (a typo would gate nothing)."""
    known = {name for pc in result.policies for name in
             [*(d.decider for d in pc.deciders), *pc.deciders_only_in_base,
              *pc.deciders_only_in_candidate]}
    for i, name in enumerate(gate.deciders or []):
        if result.policies and name not in known:
            raise gate.problem(f"no decider {name!r} in either run", "deciders", i,
                               fix=f"use some of {sorted(known)}")


def check_gate(result: CompareResult, gate: GateFile) -> GateResult:
    """Apply ``gate`` to a comparison; every check is kept, passed or not.

    Raises :class:`ConfigError` (naming the gate file's line) when the gate names a label a
    compared policy does not have.
    """
    checks: list[GateCheck] = []
    notes: list[str] = []
    if gate.require_complete:
        for name, side in (("base", result.base), ("candidate", result.candidate)):
            ok = side.status == "complete"
            checks.append(GateCheck(
                check="complete", metric=f"{name}_status", passed=ok,
                message=f"{name} run {side.run_id} is {side.status}"
                        + ("" if ok else " (finish it with `evalharness run CONFIG --resume`)")))
    for pid in result.policies_only_in_base:
        checks.append(GateCheck(check="policy_present", policy=pid, passed=False,
                                message="policy is in the base run but missing from the candidate"))
    compared = {pc.policy for pc in result.policies}
    for pid in gate.policies:
        if pid not in compared and pid not in result.policies_only_in_base:
            notes.append(f"the gate has checks for policy {pid}, which the candidate run does "
                         "not compare with the base")
    _check_label_names(gate, result)
    _check_decider_names(gate, result)
    for pc in result.policies:
        deciders, missing = _gated_deciders(gate, pc)
        checks += missing
        if not deciders and not any(not c.passed for c in missing):
            notes.append(f"{pc.policy}: no decider to gate (none non-human in both runs)")
        for dc in deciders:
            checks += _floor_checks(gate, pc, dc)
            checks += _drop_checks(gate, pc, dc)
            checks += _other_checks(gate, pc, dc)
    if not any(c.check in ("floor", "max_drop", "max_invalid_rate", "max_cost_increase")
               for c in checks):
        checks.append(GateCheck(check="decider_present", passed=False,
                                message="the gate checked no decider on any policy: the runs "
                                        "share no gated decider, or the gate sets no checks"))
    return GateResult(gate_file=gate.path, passed=all(c.passed for c in checks), checks=checks,
                      notes=notes)
