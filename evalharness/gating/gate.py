"""Regression gates: a YAML file of checks, applied to a :class:`~evalharness.records.comparison.CompareResult`.

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
``--json``, and as JUnit XML by :mod:`evalharness.report.junit`); the file is read by
:func:`evalharness.inputs.gate_file.load_gate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..records.gate import GateCheck, GateFile, GateResult
from ..records.kinds import HUMAN_KINDS
from .checks import decider_checks
from .rules import check_decider_names, check_label_names

if TYPE_CHECKING:
    from ..records.comparison import CompareResult, DeciderComparison, PolicyComparison

__all__ = ["check_gate"]


def _gated_deciders(gate: GateFile, pc: PolicyComparison) -> tuple[list[DeciderComparison],
                                                                   list[GateCheck]]:
    if gate.deciders is None:
        return [d for d in pc.deciders if d.decider_kind not in HUMAN_KINDS], []
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
    check_label_names(gate, result)
    check_decider_names(gate, result)
    for pc in result.policies:
        deciders, missing = _gated_deciders(gate, pc)
        checks += missing
        if not deciders and not any(not c.passed for c in missing):
            notes.append(f"{pc.policy}: no decider to gate (none non-human in both runs)")
        for dc in deciders:
            checks += decider_checks(gate, pc, dc)
    if not any(c.check in ("floor", "max_drop", "max_invalid_rate", "max_cost_increase")
               for c in checks):
        checks.append(GateCheck(check="decider_present", passed=False,
                                message="the gate checked no decider on any policy: the runs "
                                        "share no gated decider, or the gate sets no checks"))
    return GateResult(gate_file=gate.path, passed=all(c.passed for c in checks), checks=checks,
                      notes=notes)
