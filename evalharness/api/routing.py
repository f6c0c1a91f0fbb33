"""``recommend_tiers``: read a run folder, build the routing plan, write ``routing.yaml`` and
``routing.md`` into it. Calls no model: everything comes from ``decisions.jsonl`` and the manifest.

Targets come from, in order: the ``targets`` argument (or ``route --targets FILE``), else the run
config's ``routing:`` block, else the defaults of :class:`~evalharness.records.targets.RoutingTargets`; the
keyword ``overrides`` (the ``route`` flags) are applied last.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from ..records.errors import ConfigError, Problem, RunDirError, UsageError, block_problems
from ..records import HUMAN_RATER, Manifest
from ..report.routing import render_routing_markdown, routing_summary_lines
from ..records.metrics import AdjudicationSummary
from ..records.routing import PolicyRouting, RoutingPlan
from ..scoring.adjudicated import changed_per_policy
from .adjudication import load_adjudication
from ..routing import PolicyData, build_policy_data, route_policy
from ..scoring.production import run_prevalence, run_sampling
from ..execution.rundir import RunDir, write_atomic
from ..records.targets import RoutingTargets
from ..inputs.yamlfile import load_yaml, validation_problems

__all__ = ["ROUTING_MD", "ROUTING_YAML", "load_targets", "recommend_tiers", "render_routing_markdown",
           "routing_summary_lines"]

ROUTING_YAML = "routing.yaml"
ROUTING_MD = "routing.md"
_STATUS_RANK = {"plan_meets_targets": 0, "plan_meets_on_point_estimate": 1,
                "no_plan_meets_targets": 2}


# =============================================================================================
# targets
# =============================================================================================


def load_targets(path: Path | str) -> RoutingTargets:
    """Read a targets YAML file: the RoutingTargets keys at the top level, or under ``routing:``."""
    doc = load_yaml(Path(path), ConfigError)
    prefix: tuple[Any, ...] = ()
    data = doc.data
    if isinstance(data, dict) and set(data) == {"routing"}:
        data, prefix = data["routing"], ("routing",)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of routing targets", file=str(path), line=1,
                          fix="e.g. `precision_target: 0.9` — see `evalharness route --help`")
    try:
        targets = RoutingTargets.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems=validation_problems(exc, doc, prefix=prefix)) from None
    targets._source = str(path)
    return targets


def _from_config(manifest: Manifest) -> RoutingTargets | None:
    block = manifest.config.get("routing")
    if block is None:
        return None
    if isinstance(block, RoutingTargets):
        return block
    try:
        return RoutingTargets.model_validate(block)
    except ValidationError as exc:
        raise ConfigError(problems=block_problems(
            exc, file=manifest.config_path, block="routing",
            fix="fix the routing: block of the config, or pass --targets FILE")) from None


_FLAGS = {"deciders": "--decider", "auto_clear_max_violating": "--fn-ceiling",
          "prevalence": "--prevalence"}


def _flag(key: str) -> str:
    """The ``route`` flag that sets a RoutingTargets field."""
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


def _apply_overrides(base: RoutingTargets, overrides: dict[str, Any]) -> RoutingTargets:
    unknown = sorted(set(overrides) - set(RoutingTargets.model_fields))
    if unknown:
        raise UsageError(f"unknown routing setting(s) {unknown}", field=_flag(unknown[0]),
                         fix=f"use one of {sorted(RoutingTargets.model_fields)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    merged = {**base.model_dump(exclude_unset=True), **given}
    try:
        return RoutingTargets.model_validate(merged)
    except ValidationError as exc:
        raise UsageError(problems=[
            Problem(err["msg"], field=_flag(str(err["loc"][0])) if err["loc"] else None,
                    fix="see `evalharness route --help`")
            for err in exc.errors()
        ]) from None


def _check_names(targets: RoutingTargets, manifest: Manifest, deciders: set[str],
                 meta_keys: set[str], source: str, flags: set[str] | frozenset[str] = frozenset()) -> None:
    """Every decider, policy, label and slice key the targets name must exist in the run."""
    problems = []
    labels = {lab for info in manifest.policies.values() for lab in info.labels}

    def bad(field: str, message: str, fix: str) -> None:
        from_flag = source == "flags" or field.split(".")[0] in flags
        problems.append(Problem(message, file=None if from_flag else source,
                                field=_flag(field) if field in flags else field, fix=fix))

    for pid in targets.prevalence:
        if pid not in manifest.policies:
            bad("prevalence", f"no policy {pid!r} in this run",
                f"use some of {sorted(manifest.policies)}")
    for name in targets.deciders or []:
        if name not in deciders:
            bad("deciders", f"no decider {name!r} in this run", f"use some of {sorted(deciders)}")
    for name in targets.costs.decider_cost_usd:
        if name not in deciders:
            bad("costs.decider_cost_usd", f"no decider {name!r} in this run",
                f"use some of {sorted(deciders)}")
    for pid, pt in targets.policies.items():
        if pid not in manifest.policies:
            bad(f"policies.{pid}", f"no policy {pid!r} in this run",
                f"use some of {sorted(manifest.policies)}")
            continue
        for lab in pt.labels:
            if lab not in manifest.policies[pid].labels:
                bad(f"policies.{pid}.labels.{lab}", f"{pid} has no label {lab!r}",
                    f"use some of {manifest.policies[pid].labels}")
    actions = {a for info in manifest.policies.values() for a in (info.actions or {}).values()}
    for action in targets.actions:
        if action not in actions:
            bad(f"actions.{action}", f"no policy of this run has an enforcement action "
                f"{action!r}", f"use some of {sorted(actions)} (a policy's severity.actions)"
                if actions else "give the policy severity.actions, or drop actions:")
    for pid, pt in targets.policies.items():
        if pid not in manifest.policies:
            continue  # named above
        mine = set((manifest.policies[pid].actions or {}).values())
        for action in pt.actions:
            if action not in mine:
                bad(f"policies.{pid}.actions.{action}", f"{pid} has no enforcement action "
                    f"{action!r}", f"use some of {sorted(mine)}" if mine else
                    f"give {pid} severity.actions, or drop this target")
    for lab in targets.labels:
        if lab not in labels:
            bad(f"labels.{lab}", f"no policy of this run has a label {lab!r}",
                f"use some of {sorted(labels)}")
    for i, st in enumerate(targets.slices):
        if st.key not in meta_keys:
            bad(f"slices.{i}.key", f"no item has meta key {st.key!r}",
                f"use one of {sorted(meta_keys)} (the run's slice_by: {manifest.slice_by})")
        if st.policy is not None and st.policy not in manifest.policies:
            bad(f"slices.{i}.policy", f"no policy {st.policy!r} in this run",
                f"use some of {sorted(manifest.policies)}")
    if problems:
        cls = UsageError if all(p.file is None for p in problems) else ConfigError
        raise cls(problems=problems)


def _check_not_empty(data: PolicyData, targets: RoutingTargets, manifest: Manifest, run: RunDir,
                     source: str, flags: set[str]) -> None:
    """Nothing passes on nothing: a policy without gold, a per-label target on a label with no
    gold item, or a slice target on a slice without graded items is an error (exit 2)."""
    pid = data.policy
    if data.n == 0:
        raise RunDirError(
            f"policy {pid}: none of its {sum(data.left_out.values())} decided items has a gold "
            "label, so no routing target can be checked", file=str(run.file("decisions.jsonl")),
            fix=f"label the golden set for {pid} (labels.{pid} per item) and rerun, or drop "
                f"{pid} from the run's policies")
    file = None if source == "flags" else source
    gold = {lab: int(np.count_nonzero(data.gold == i)) for i, lab in enumerate(data.labels)}
    have = sorted(lab for lab, k in gold.items() if k)
    if data.violating and not any(gold[v] for v in data.violating):
        raise RunDirError(
            f"policy {pid}: none of its {data.n} graded items has violating gold "
            f"({', '.join(data.violating)}), so no precision or recall target can be checked",
            file=str(run.file("decisions.jsonl")),
            fix=f"add items labelled {data.violating[0]} to the golden set for {pid}")
    pt = targets.policies.get(pid)
    for field, labels in (("labels", targets.labels),
                          (f"policies.{pid}.labels", pt.labels if pt else {})):
        for lab in labels:
            if lab in gold and not gold[lab]:
                raise (UsageError if file is None else ConfigError)(
                    f"{pid} has no graded item with gold {lab!r}, so its per-label target checks "
                    "nothing", file=file, field=f"{field}.{lab}",
                    fix=f"add items labelled {lab} to the golden set, or target one of {have}")
    for i, st in enumerate(targets.slices):
        if st.policy not in (None, pid):
            continue
        values = sorted({v for k, v in data.slice_masks([st.key])})
        if values and (st.value is None or st.value in values):
            continue
        what = f"{st.key}={st.value}" if st.value is not None else f"key {st.key}"
        raise (UsageError if file is None else ConfigError)(
            f"slice {what} has no graded {pid} item, so its target checks nothing",
            file=file, field=f"slices.{i}.{'value' if st.value is not None else 'key'}",
            fix=f"use one of {st.key}={values}" if values else
                f"no graded {pid} item has a value for {st.key}: drop this slice target")


# =============================================================================================
# the API
# =============================================================================================


def recommend_tiers(
    run_dir: Path | str,
    targets: RoutingTargets | None = None,
    *,
    write: bool = True,
    adjudicated: Path | str | None = None,
    **overrides: Any,
) -> RoutingPlan:
    """Recommend which tier takes which cases, per policy of a finished run.

    Parameters
    ----------
    run_dir : folder written by ``evalharness run``.
    targets : the targets; default: the run config's ``routing:`` block, else the defaults.
    write : write ``routing.yaml`` and ``routing.md`` into ``run_dir`` (default True).
    adjudicated : an adjudication file: route against its verdicts' labels as gold (the plan
        records the file, its version and how many labels changed).
    **overrides : RoutingTargets fields replacing those of ``targets`` (None values are ignored),
        e.g. ``precision_target=0.9, recall_target=0.8, daily_volume=50_000``.

    Returns
    -------
    RoutingPlan
        Per policy: the recommended plan with its expected quality and cost on validation items,
        baselines, per-decider thresholds, the cost/quality frontier, slices and the QA request.

    Raises
    ------
    RunDirError, ConfigError, UsageError
        Not a run folder; invalid targets (file, config block or flag) naming the field and fix;
        a target over zero items — a policy without gold (or without violating gold), a label
        target on a label no graded item has, a slice target on a slice no graded item is in.
    """
    run = RunDir(Path(run_dir))
    manifest = run.read_manifest()
    source = "flags"
    if targets is None:
        targets = _from_config(manifest)
        source = manifest.config_path if targets is not None else "flags"
        targets = targets or RoutingTargets()
    elif not isinstance(targets, RoutingTargets):
        raise UsageError("targets must be a RoutingTargets", field="targets",
                         fix="build one with RoutingTargets(...) or load_targets(path)")
    else:
        source = targets._source or "flags"
    given = overrides.get("prevalence")
    if isinstance(given, dict) and "*" in given:  # route --prevalence P: every policy of the run
        every = given.pop("*")
        overrides["prevalence"] = {**{pid: every for pid in manifest.policies}, **given}
    if overrides:
        targets = _apply_overrides(targets, overrides)
    adjudication = load_adjudication(adjudicated) if adjudicated is not None else None
    decisions = run.read_table()
    if not len(decisions):
        raise RunDirError("no decisions to route", file=str(run.file("decisions.jsonl")),
                          fix="finish the run first (evalharness run CONFIG --resume)")
    regraded = None
    if adjudication is not None:
        decisions, changed, unused = adjudication.regold(decisions)
        regraded = AdjudicationSummary(
            file=str(adjudication.file), version=adjudication.version,
            verdicts=adjudication.verdicts, changed=changed_per_policy(decisions, changed),
            not_in_run=unused)
    deciders = {str(name) for (name,) in decisions.groups(
        ~decisions.is_value("decider_kind", HUMAN_RATER), by=("decider",))}
    meta_keys = {k for meta in decisions.meta for k in meta}
    _check_names(targets, manifest, deciders, meta_keys, source, set(overrides))
    policies: list[PolicyRouting] = []
    stated, design = run_prevalence(manifest), run_sampling(manifest)
    for pid, info in manifest.policies.items():
        data = build_policy_data(decisions, policy=pid, labels=info.labels,
                                 violating=info.violating, deciders=targets.deciders,
                                 costs=targets.costs,
                                 order=[str(d.get("name")) for d in manifest.deciders])
        if not data.deciders:
            continue
        _check_not_empty(data, targets, manifest, run, source, set(overrides))
        try:
            routing = route_policy(data, targets, slice_keys=manifest.slice_by,
                                   prevalence=stated.get(pid), sampling=design,
                                   actions=info.actions)
        except ValueError as exc:
            raise RunDirError(str(exc), file=str(run.path),
                              fix="check that every tier decided the policy's items") from None
        if manifest.status != "complete":
            routing.notes.insert(0, f"the run's status is {manifest.status!r}: the plan uses only "
                                    "the decisions made so far")
        policies.append(routing)
    if not policies:
        raise RunDirError("no policy has decisions from a decider that can be a tier",
                          file=str(run.file("decisions.jsonl")))
    used = sum(p.items["graded"] for p in policies)
    plan = RoutingPlan(
        run_id=manifest.run_id,
        run_dir=str(run.path),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        status=max((p.status for p in policies), key=_STATUS_RANK.__getitem__),
        targets=targets.model_dump(mode="json"),
        confidence=targets.confidence,
        seed=targets.seed,
        split={
            "method": "sha256(f'{seed}:{item_id}') below calibration_share -> calibration",
            "calibration_share": targets.calibration_share,
            "chosen_on": "calibration",
            "checked_on": "validation",
            "items_graded": used,
        },
        daily_volume=targets.daily_volume,
        policies=policies,
        adjudication=regraded,
    )
    if write:
        write_atomic(run.file(ROUTING_YAML), dump_yaml(plan))
        write_atomic(run.file(ROUTING_MD), render_routing_markdown(plan))
    return plan


def _rounded(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, key) for v in value]
    if isinstance(value, float) and key != "threshold":
        return round(value, 6)
    return value


def dump_yaml(plan: RoutingPlan) -> str:
    """``routing.yaml`` text: schema_version first, floats rounded to 6 places (thresholds exact)."""
    header = ("# Tier-routing plan written by `evalharness route`; routing.md is the sign-off "
              "version.\n")
    return header + yaml.safe_dump(_rounded(plan.model_dump(mode="json")), sort_keys=False,
                                   allow_unicode=True, width=100)
