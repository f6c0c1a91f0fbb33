"""A work plan: the config checked against its policies, golden set and deciders.

Building one reads everything a run needs and runs every cheap check, so ``validate`` and the
start of ``run`` report bad input before any model is loaded or called. Each ``deciders:`` entry
is checked here against its kind's own options model (:mod:`evalharness.deciders.registry`), so
a plugin's kind gets the same line-numbered errors as a built-in one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..deciders import Decider
from ..deciders.base import CombiningDecider
from ..deciders.registry import create_deciders, decider_kind
from ..inputs.config import RunConfig, file_sha256, read_config
from ..inputs.goldens import check_labels, check_prompt_parts
from ..inputs.selection import select_items, selection_hash
from ..inputs.policies import Policy, Prompt, find_policy, load_policy
from ..inputs.yamlfile import load_yaml, validation_problems
from ..records import HUMAN_KINDS, MISSING_SLICE, GoldenItem, GoldenSetInfo, PolicyInfo, slice_values
from ..records.manifest import ShardInfo
from ..records.errors import ConfigError, DeciderError, EvalHarnessError, GoldenSetError, Problem

__all__ = ["WorkPlan", "build_work_plan", "load_config"]


@dataclass
class WorkPlan:
    """Everything a run needs, loaded and checked."""

    config: RunConfig
    policies: dict[str, Policy]
    items: list[GoldenItem]
    deciders: list[Decider]
    golden_set: GoldenSetInfo
    limit: int | None = None
    warnings: list[str] = field(default_factory=list)

    def decider_policies(self, decider: Decider) -> list[Policy]:
        return [self.policies[p] for p in decider.policy_ids]

    def items_for(self, policy: Policy) -> list[GoldenItem]:
        """Items with a known gold label for ``policy`` (unknown gold is not evaluated)."""
        return [item for item in self.items if policy.id in item.labels]

    def policy_infos(self) -> dict[str, PolicyInfo]:
        variants = {getattr(d, "variant", "default") for d in self.deciders} - {"default"}
        return {
            pid: PolicyInfo(
                version=p.version, owner=p.owner, prompt_hash=p.prompt_hash,
                variant_hashes={v: p.prompt_hash_for(v) for v in sorted(variants) if v in p.variants},
                file_sha256=file_sha256(p.path) if p.path else None,
                labels=p.label_names, violating=p.violating,
                severity=p.severity.order if p.severity else None,
                actions={label: p.severity.action_of(label) for label in p.severity.order}
                if p.severity else None,
            )
            for pid, p in self.policies.items()
        }

    def policy_labels(self) -> dict[str, list[str]]:
        return {pid: p.label_names for pid, p in self.policies.items()}


def _load_policies(config: RunConfig) -> dict[str, Policy]:
    folder = config.find_policies_dir()
    policies = {}
    problems: list[Problem] = []
    for pid in config.policies:
        try:
            policies[pid] = load_policy(find_policy(pid, folder))
        except EvalHarnessError as exc:
            problems.extend(exc.problems)
    if problems:
        raise EvalHarnessError(problems=problems)
    return policies


def _check_slices(config: RunConfig, items: list[GoldenItem]) -> None:
    seen = sorted({key for item in items for key in item.meta})
    for i, key in enumerate(config.slice_by):
        if all(slice_values(item.meta, key) == [MISSING_SLICE] for item in items):
            raise config.problem(
                f"meta key {key!r} has a value in no selected item",
                "slice_by", i, fix=f"use one of {seen}" if seen else "remove slice_by",
            )


def _check_sampling(config: RunConfig, items: list[GoldenItem], path: str) -> None:
    """Every item's stratum must be one the design gives a share for."""
    design = config.sampling
    if design is None:
        return
    for item in items:
        value = item.meta.get(design.stratum)
        if value is None or str(value) not in design.population_shares:
            raise GoldenSetError(
                f"item {item.id} has meta.{design.stratum}={value!r}, which sampling.population_"
                f"shares does not list", file=path, field=f"meta.{design.stratum}",
                fix=f"give every stratum a share (listed: {sorted(design.population_shares)})")


def _check_options(config: RunConfig) -> None:
    """Replace each ``deciders:`` entry by its kind's options model; every problem names its
    line."""
    problems: list[Problem] = []
    for i, entry in enumerate(config.deciders):
        try:
            kind = decider_kind(entry.kind)
        except DeciderError as exc:
            first = exc.problems[0]
            problems.append(config.problem(first.message, "deciders", i, "kind", fix=first.fix).problems[0])
            continue
        try:
            config.deciders[i] = kind.options.model_validate(entry.model_dump(exclude_unset=True))
        except ValidationError as exc:
            problems += config.validation_problems(exc, "deciders", i)
    if problems:
        raise ConfigError(problems=problems)
    config.check_decider_names()


def _check_members(config: RunConfig, deciders: list[Decider]) -> None:
    """Each combining decider's members (an ensemble's) are other deciders of this config, not
    people, deciding at least its policies, with no cycle between combining deciders."""
    by_name = {d.name: d for d in deciders}
    for made in deciders:
        if not isinstance(made, CombiningDecider):
            continue
        where = ("deciders", next(i for i, spec in enumerate(config.deciders)
                                  if made.name in config.decider_names(spec)), "members")
        for member in made.members:
            found = by_name.get(member)
            if member == made.name:
                raise config.problem(f"decider {made.name} lists itself as a member", *where,
                                     fix="list other deciders of this config")
            if found is None:
                raise config.problem(f"member {member!r} is not a decider of this config",
                                     *where, fix=f"use some of {sorted(n for n, d in by_name.items() if n != made.name and d.kind not in HUMAN_KINDS)}")
            if found.kind in HUMAN_KINDS:
                raise config.problem(f"member {member} is a human decider (kind {found.kind})",
                                     *where, fix="combine machine deciders only; the human "
                                     "tier is the one that decides what they escalate")
            missing = [p for p in made.policy_ids if p not in found.policy_ids]
            if missing:
                raise config.problem(f"member {member} does not decide {missing}", *where,
                                     fix=f"add {missing} to {member}'s policies, or limit "
                                         f"{made.name} with policies: {found.policy_ids}")
        cycle = _cycle(made.name, by_name, [])
        if cycle:
            raise config.problem(f"members form a cycle: {' -> '.join(cycle)}", *where,
                                 fix="an ensemble cannot vote on its own decisions")


def _cycle(name: str, by_name: dict[str, Decider], path: list[str]) -> list[str]:
    """A path from ``name`` back to a decider already on ``path`` through members, or []."""
    if name in path:
        return [*path[path.index(name):], name]
    made = by_name.get(name)
    for member in made.members if isinstance(made, CombiningDecider) else []:
        found = _cycle(member, by_name, [*path, name])
        if found:
            return found
    return []


def _raw_option_problems(path: Path | str) -> list[Problem]:
    """Option problems of the ``deciders:`` entries of a config whose schema check failed, so
    one run of ``validate`` reports both kinds of mistake."""
    try:
        doc = load_yaml(Path(path), ConfigError)
    except EvalHarnessError:
        return []
    entries = doc.data.get("deciders") if isinstance(doc.data, dict) else None
    problems: list[Problem] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            continue
        try:
            kind = decider_kind(entry["kind"])
            kind.options.model_validate(entry)
        except DeciderError:
            continue
        except ValidationError as exc:
            problems += validation_problems(exc, doc, prefix=("deciders", i))
    return problems


def load_config(path: Path | str) -> RunConfig:
    """Load a config file: its schema, and every decider entry against its kind's options
    (see :func:`evalharness.validate` for the checks against data). All problems of both
    checks are reported together."""
    try:
        config = read_config(path)
    except ConfigError as exc:
        seen = {(p.field, p.message) for p in exc.problems}
        extra = [p for p in _raw_option_problems(path) if (p.field, p.message) not in seen]
        if not extra:
            raise
        raise ConfigError(problems=[*exc.problems, *extra]) from None
    _check_options(config)
    return config


def _prompts_shown(plan: WorkPlan) -> dict[str, list[tuple[str, Prompt]]]:
    """Per policy, the prompts its items are shown with: the variant of each decider that
    renders one (the llm deciders)."""
    shown: dict[str, list[tuple[str, Prompt]]] = {}
    for decider in plan.deciders:
        bundle = getattr(getattr(decider, "config", None), "bundle", None)
        if bundle is not None and plan.config.bundles[bundle].user is not None:
            prompt = Prompt(system="", user=plan.config.bundles[bundle].user)
            for policy in plan.decider_policies(decider):
                shown.setdefault(policy.id, []).append((f"bundle {bundle}'s user", prompt))
            continue
        variant = getattr(decider, "variant", None)
        for policy in plan.decider_policies(decider) if variant is not None else ():
            if variant != "default" and variant not in policy.variants:
                continue  # the decider's own check names the missing variant
            where = f"policy {policy.id}'s prompt" + ("" if variant == "default" else f" {variant}")
            entry = (where, policy.prompt_for(variant))
            if entry not in shown.setdefault(policy.id, []):
                shown[policy.id].append(entry)
    return shown


def shard_of(item_id: str, shards: int) -> int:
    """The shard (1..``shards``) an item belongs to: by sha256 of its id, so every machine and
    every run puts it in the same one."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % shards + 1


def build_work_plan(config_path: Path | str, *, limit: int | None = None,
                    shard: tuple[int, int] | None = None) -> WorkPlan:
    """Load and check a config, its policies, golden set and deciders (no model is loaded)."""
    config = load_config(config_path)
    policies = _load_policies(config)
    golden_path = config.resolve(config.golden_set.path)
    items = select_items(config.golden_set, golden_path)
    check_labels(items, {pid: p.label_names for pid, p in policies.items()}, str(golden_path))
    if limit is not None:
        items = items[:limit]
    whole = None
    if shard is not None:
        index, of = shard
        whole = ShardInfo(index=index, of=of, selection_sha256=selection_hash(items),
                          n_items=len(items))
        items = [item for item in items if shard_of(item.id, of) == index]
        if not items:
            raise GoldenSetError(f"shard {index}/{of} holds no item", file=str(golden_path),
                                 field="--shard", fix="use fewer shards")
    for pid in policies:
        if not any(pid in item.labels for item in items):
            raise GoldenSetError(
                f"no selected item has a gold label for policy {pid}",
                file=str(golden_path), field=f"labels.{pid}",
                fix="choose a golden set labeled for this policy or drop it from policies:",
            )
    _check_slices(config, items)
    _check_sampling(config, items, str(golden_path))
    info = GoldenSetInfo(
        path=str(golden_path),
        file_sha256=file_sha256(golden_path) if golden_path.is_file() else None,
        selection_sha256=selection_hash(items),
        n_items=len(items),
        filter=config.golden_set.filter,
        sample=config.golden_set.sample.model_dump() if config.golden_set.sample else None,
        limit=limit,
        shard=whole,
    )
    deciders = []
    for spec in config.deciders:
        for made in create_deciders(spec, config):
            made.policy_ids = config.decider_policies(spec)
            deciders.append(made)
    plan = WorkPlan(config=config, policies=policies, items=items, deciders=deciders,
                    golden_set=info, limit=limit)
    check_prompt_parts(items, _prompts_shown(plan), str(golden_path))
    _check_members(config, deciders)
    for decider in deciders:
        try:
            decider.check(plan.decider_policies(decider), items)
        except DeciderError as exc:
            raise config.locate(exc) from None
    return plan


