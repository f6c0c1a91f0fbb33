"""Which setting of a gate file applies: the most specific entry wins (policy, then ``defaults``;
within each the label, then ``violating``, then ``all``), and names in the file must exist."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..records.gate import LABEL_KEYS, Checks, GateFile

if TYPE_CHECKING:
    from ..records.comparison import CompareResult

__all__ = ["check_decider_names", "check_label_names", "label_rule", "policy_rule", "top_rule"]


def _chain(gate: GateFile, policy: str) -> list[Checks]:
    """Checks to consult for a policy, most specific first."""
    return [gate.policies[policy], gate.defaults] if policy in gate.policies else [gate.defaults]


def _setting(model: BaseModel | None, name: str) -> tuple[bool, Any]:
    if model is None or name not in model.model_fields_set:
        return False, None
    return True, getattr(model, name)


def _first(entries: Iterable[BaseModel | None], group: str, metric: str) -> Any:
    """The value of ``<group>.<metric>`` in the first entry that sets it; None when an entry
    switches the group off (``group: null``) or none sets it."""
    for entry in entries:
        found, sub = _setting(entry, group)
        if not found:
            continue
        if sub is None:
            return None
        found, value = _setting(sub, metric)
        if found:
            return value
    return None


def policy_rule(gate: GateFile, policy: str, group: str, metric: str) -> Any:
    """The most specific value of ``<group>.<metric>`` (e.g. floors.accuracy) for a policy."""
    return _first(_chain(gate, policy), group, metric)


def label_rule(gate: GateFile, policy: str, label: str, violating: bool, group: str,
               metric: str) -> Any:
    """The most specific value for one label: the label's entry, then ``violating`` (for a
    violating label), then ``all`` — in the policy's checks, then in ``defaults``."""
    keys = [label, *(["violating"] if violating else []), "all"]
    return _first((checks.labels.get(key) for checks in _chain(gate, policy) for key in keys),
                  group, metric)


def top_rule(gate: GateFile, policy: str, name: str) -> Any:
    for checks in _chain(gate, policy):
        found, value = _setting(checks, name)
        if found:
            return value
    return None


def check_label_names(gate: GateFile, result: CompareResult) -> None:
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


def check_decider_names(gate: GateFile, result: CompareResult) -> None:
    """A decider the gate names must be in at least one run (a typo would gate nothing)."""
    known = {name for pc in result.policies for name in
             [*(d.decider for d in pc.deciders), *pc.deciders_only_in_base,
              *pc.deciders_only_in_candidate]}
    for i, name in enumerate(gate.deciders or []):
        if result.policies and name not in known:
            raise gate.problem(f"no decider {name!r} in either run", "deciders", i,
                               fix=f"use some of {sorted(known)}")
