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
estimate. A check over no items, or a gate that checks nothing, is an error (exit 2), never a
pass: nothing passes on nothing.

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


_ITEM_CHECKS = ("floor", "max_drop", "max_invalid_rate", "max_cost_increase")


def _loc(gate: GateFile, check: GateCheck) -> tuple[str, ...]:
    """Where in the gate file a check is set (the most specific entry that sets it)."""
    group = "floors" if check.check == "floor" else check.check
    leaf = (check.metric,) if check.check in ("floor", "max_drop") and check.metric else ()
    entries = [(("policies", check.policy), gate.policies[check.policy])] \
        if check.policy in gate.policies else []
    for prefix, checks in [*entries, (("defaults",), gate.defaults)]:
        if check.label is None and group in checks.model_fields_set:
            return (*prefix, group, *leaf)
        for key in (check.label, "violating", "all") if check.label else ():
            entry = checks.labels.get(key)
            if entry is not None and group in entry.model_fields_set:
                return (*prefix, "labels", key, group, *leaf)
    return ()


def _why(check: GateCheck, unpaired: bool) -> str:
    """Why a check has no item, in a few words."""
    if unpaired or check.check == "max_cost_increase":
        return "decided no item in both runs"
    if check.label is not None and check.metric in ("recall", "f1"):
        return f"no graded item has gold {check.label}"
    if check.check == "max_drop":
        return "no item graded in both runs"
    return "no graded candidate decision" if check.check == "floor" else "no candidate decision"


def _check_something_checked(gate: GateFile, result: CompareResult, checks: list[GateCheck],
                             gated: list[DeciderComparison]) -> None:
    """Nothing passes on nothing: a check over zero items (or on a decider that decided no item
    in both runs: its floors would judge the candidate alone), or a gate that checks nothing, is
    an error (:class:`ConfigError`, exit 2) naming the gate file and what is empty — never a
    pass."""
    unpaired = {(dc.policy, dc.decider) for dc in gated if not dc.n_paired}
    empty = [c for c in checks if c.check in _ITEM_CHECKS
             and (c.n == 0 or (c.policy, c.decider) in unpaired)]
    runs = f"base {result.base.path or result.base.run_id}, candidate " \
           f"{result.candidate.path or result.candidate.run_id}"
    if empty:
        names = list(dict.fromkeys(f"{c.policy} · {c.decider} · {c.name} "
                                   f"({_why(c, (c.policy, c.decider) in unpaired)})" for c in empty))
        shown = "; ".join(names[:4]) + (f"; and {len(names) - 4} more" if len(names) > 4 else "")
        raise gate.problem(
            f"{len(names)} gate check(s) have 0 items to check ({runs}): {shown}", *_loc(gate, empty[0]),
            fix="compare runs over the same items with gold for these labels, or switch the "
                "checks off (null) or leave the decider out with deciders:")
    if not any(c.check in _ITEM_CHECKS for c in checks) and all(c.passed for c in checks):
        raise gate.problem(
            f"the gate checks nothing on these runs ({runs}): no floor, drop, invalid-rate or "
            "cost check applies to a decider in both runs",
            fix="set checks under defaults: (see configs/gate.yaml) and name deciders both runs have")


def check_gate(result: CompareResult, gate: GateFile) -> GateResult:
    """Apply ``gate`` to a comparison; every check is kept, passed or not.

    Raises :class:`ConfigError` (naming the gate file's line) when the gate names a label a
    compared policy does not have, when a check has no item to check (no paired graded item, no
    gold item of its label, no candidate decision), or when no check applies at all.
    """
    checks: list[GateCheck] = []
    gated: list[DeciderComparison] = []
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
        gated += deciders
        for dc in deciders:
            checks += decider_checks(gate, pc, dc)
    _check_something_checked(gate, result, checks, gated)
    return GateResult(gate_file=gate.path, passed=all(c.passed for c in checks), checks=checks,
                      notes=notes)
