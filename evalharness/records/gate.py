"""A regression gate: the gate file people write (``configs/gate.yaml``, schema version 2) and the
verdict it gives a comparison (``GateResult``)."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import Field, PrivateAttr, model_validator

from .base import Record, Strict
from .errors import ConfigError


__all__ = ["LABEL_KEYS", "CheckKind", "Checks", "CostIncrease", "Drop", "DropLimit", "GateCheck",
           "GateFile", "GateResult", "LabelChecks", "LabelDrops", "LabelFloors", "PolicyDrops",
           "PolicyFloors", "Test"]


class SourceFile(Protocol):
    """Where a model was read from: a path and the line of each field (a YAML document)."""

    path: Any

    def line_of(self, loc: Any) -> int | None: ...


LABEL_KEYS = ("violating", "all")
"""Keys of ``labels:`` that stand for a group of labels rather than one label."""


Test = Literal["non_inferiority", "point_estimate"]


def _migrate_significant_only(data: Any) -> Any:
    """Version 1 said ``significant_only: true|false``; version 2 says ``test:``."""
    if isinstance(data, dict) and "significant_only" in data and "test" not in data:
        data = dict(data)
        flag = data.pop("significant_only")
        if flag is not None:
            data["test"] = "non_inferiority" if flag else "point_estimate"
    return data


class DropLimit(Strict):
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


class PolicyFloors(Strict):
    """Minimums for the candidate (null = no floor)."""

    accuracy: float | None = Field(default=None, ge=0, le=1)
    cohen_kappa: float | None = Field(default=None, ge=-1, le=1)
    coverage: float | None = Field(default=None, ge=0, le=1)
    """Share of decisions with outcome ``ok``."""


class PolicyDrops(Strict):
    """Largest allowed drops versus base of policy-wide metrics."""

    accuracy: Drop | None = None
    cohen_kappa: Drop | None = None
    coverage: Drop | None = None


class LabelFloors(Strict):
    precision: float | None = Field(default=None, ge=0, le=1)
    recall: float | None = Field(default=None, ge=0, le=1)
    f1: float | None = Field(default=None, ge=0, le=1)


class LabelDrops(Strict):
    precision: Drop | None = None
    recall: Drop | None = None
    f1: Drop | None = None


class LabelChecks(Strict):
    """Checks on one label (or on each label of a group: ``violating``, ``all``)."""

    floors: LabelFloors | None = None
    max_drop: LabelDrops | None = None


class CostIncrease(Strict):
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


class Checks(Strict):
    """The checks for one policy (or, under ``defaults``, for every policy)."""

    floors: PolicyFloors | None = None
    max_drop: PolicyDrops | None = None
    labels: dict[str, LabelChecks] = Field(default_factory=dict)
    """Per label name, or ``violating`` (each violating label) or ``all`` (every label)."""
    max_invalid_rate: float | None = Field(default=None, ge=0, le=1)
    """Largest share of the candidate's decisions with outcome ``invalid``."""
    max_cost_increase: CostIncrease | None = None


class GateFile(Strict):
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

    _source: SourceFile | None = PrivateAttr(default=None)

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


CheckKind = Literal["complete", "policy_present", "decider_present", "floor", "max_drop",
                    "max_invalid_rate", "max_cost_increase"]


class GateCheck(Record):
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


class GateResult(Record):
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
