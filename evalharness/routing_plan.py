"""``recommend_tiers``: read a run folder, build the routing plan, write ``routing.yaml`` and
``routing.md`` into it. Calls no model: everything comes from ``decisions.jsonl`` and the manifest.

Targets come from, in order: the ``targets`` argument (or ``route --targets FILE``), else the run
config's ``routing:`` block, else the defaults of :class:`~evalharness.targets.RoutingTargets`; the
keyword ``overrides`` (the ``route`` flags) are applied last.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ConfigError, Problem, RunDirError, UsageError
from .records import Manifest
from .report.markdown import fmt_interval, md_escape
from .routing import (
    HUMAN_KINDS,
    UNKNOWN_SITE,
    Plan,
    PolicyRouting,
    RoutingPlan,
    build_policy_data,
    route_policy,
)
from .rundir import RunDir, write_atomic
from .targets import RoutingTargets
from .yamlfile import load_yaml, validation_problems

__all__ = ["ROUTING_MD", "ROUTING_YAML", "load_targets", "recommend_tiers", "render_routing_markdown",
           "summary_lines"]

ROUTING_YAML = "routing.yaml"
ROUTING_MD = "routing.md"
_STATUS_RANK = {"plan_meets_targets": 0, "no_plan_meets_targets": 1}


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
        raise ConfigError(problems=[
            Problem(err["msg"], file=manifest.config_path,
                    field=".".join(map(str, ("routing", *err["loc"]))),
                    fix="fix the routing: block of the config, or pass --targets FILE")
            for err in exc.errors()
        ]) from None


_FLAGS = {"deciders": "--decider", "auto_clear_max_violating": "--fn-ceiling"}


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


# =============================================================================================
# the API
# =============================================================================================


def recommend_tiers(
    run_dir: Path | str,
    targets: RoutingTargets | None = None,
    *,
    write: bool = True,
    **overrides: Any,
) -> RoutingPlan:
    """Recommend which tier takes which cases, per policy of a finished run.

    Parameters
    ----------
    run_dir : folder written by ``evalharness run``.
    targets : the targets; default: the run config's ``routing:`` block, else the defaults.
    write : write ``routing.yaml`` and ``routing.md`` into ``run_dir`` (default True).
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
        Not a run folder; invalid targets (file, config block or flag) naming the field and fix.
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
    if overrides:
        targets = _apply_overrides(targets, overrides)
    decisions = run.read_decisions()
    if not decisions:
        raise RunDirError("no decisions to route", file=str(run.file("decisions.jsonl")),
                          fix="finish the run first (evalharness run CONFIG --resume)")
    deciders = {d.decider for d in decisions if d.decider_kind != "human_rater"}
    meta_keys = {k for d in decisions for k in d.meta}
    _check_names(targets, manifest, deciders, meta_keys, source, set(overrides))
    policies: list[PolicyRouting] = []
    for pid, info in manifest.policies.items():
        data = build_policy_data(decisions, policy=pid, labels=info.labels,
                                 violating=info.violating, deciders=targets.deciders,
                                 costs=targets.costs)
        if not data.deciders:
            continue
        try:
            routing = route_policy(data, targets, slice_keys=manifest.slice_by)
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
    used = sum(p.items["used"] for p in policies)
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
            "items_used": used,
        },
        daily_volume=targets.daily_volume,
        policies=policies,
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


# =============================================================================================
# text
# =============================================================================================

_HEADLINE = {
    "plan_meets_targets": "Recommended plan — meets every target",
    "no_plan_meets_targets": "No plan meets every target",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _usd(x: float | None) -> str:
    if x is None:
        return "–"
    return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def _hours(m: dict[str, float | None]) -> str:
    if not m:
        return "0"
    total = m.get("total")
    if total is None:
        return "unknown"
    sites = [f"{md_escape(k)} {v:,.1f}" for k, v in m.items()
             if k not in ("total", UNKNOWN_SITE) and v is not None]
    return f"{total:,.1f}" + (f" ({', '.join(sites)})" if sites else "")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def _targets_line(t: dict[str, Any]) -> str:
    parts = []
    if t["precision_target"] is not None:
        parts.append(f"precision of violating calls ≥ {t['precision_target']:.2f} (every automated "
                     "step, and end to end)")
    if t["recall_target"] is not None:
        parts.append(f"recall of violating items ≥ {t['recall_target']:.2f} end to end")
    if t["auto_clear_max_violating"] is not None:
        parts.append(f"at most {t['auto_clear_max_violating']:.0%} of auto-cleared items violating")
    for lab, lt in t["labels"].items():
        parts += [f"{part} of {lab} ≥ {v:.2f}" for part, v in lt.items() if v is not None]
    for st in t["slices"]:
        scope = f"{st['key']}={st.get('value') or '*'}"
        parts += [f"{name.split('_')[0]} ≥ {st[name]:.2f} in slice {scope}"
                  for name in ("precision_target", "recall_target") if st.get(name) is not None]
    return "; ".join(parts) or "none"


def _tier_rows(plan: Plan) -> list[list[str]]:
    rows = []
    for t in plan.tiers:
        share = next(s for s in plan.expected.tiers if s.decider == t.decider)
        if t.role == "automated":
            for chk in (t.auto_action, t.auto_clear):
                if chk is None or chk.validation is None:
                    continue
                v = chk.validation
                what = "auto-action" if chk.side == "auto_action" else "auto-clear"
                if chk.side == "auto_action":
                    guarantee = f"precision {fmt_interval(v.rate)}, lower bound {v.bound or 0:.3f}"
                else:
                    guarantee = f"violating share {fmt_interval(v.rate)}, upper bound {v.bound or 0:.3f}"
                    if v.recall_loss_bound is not None:
                        guarantee += f"; violating items cleared ≤ {v.recall_loss_bound:.3f}"
                share_all = share.auto_action if chk.side == "auto_action" else share.auto_clear
                rows.append([f"{t.position}. {md_escape(t.decider)} ({t.kind})",
                             f"{what} {_cell(chk.rule)}", _pct(share_all),
                             f"{guarantee} — {'holds' if chk.confirmed else '**does not hold**'}"])
            if share.escalated_unscored:
                rows.append([f"{t.position}. {md_escape(t.decider)} ({t.kind})",
                             "escalates decisions without a score", "–",
                             f"{share.escalated_unscored} items (invalid, refusal, error or no "
                             "scores) — never auto-decided"])
        else:
            rows.append([f"{t.position}. {md_escape(t.decider)} ({t.kind})",
                         "decides everything left" if len(plan.tiers) > 1 else "decides everything",
                         _pct(share.decided.value), "reviewed" if t.kind in HUMAN_KINDS
                         else f"its own labels; {share.undecided} left undecided (not ok)"])
    return rows


def _expected_rows(plan: Plan, violating: list[str]) -> list[list[str]]:
    m = plan.expected
    checks = {c.target.split(" >=")[0]: c for c in plan.target_checks if c.scope == "end to end"}

    def verdict(name: str) -> str:
        c = checks.get(name)
        if c is None:
            return "–"
        state = "met" if c.met else "**not met**"
        return f"≥ {c.required:.2f}: {state}" + (" (confirmed)" if c.confirmed else "")

    what = " or ".join(violating)
    rows = [
        [f"precision of {md_escape(what)} calls", fmt_interval(m.violating_precision),
         verdict("precision of violating calls")],
        [f"recall of {md_escape(what)} items", fmt_interval(m.violating_recall),
         verdict("recall of violating items")],
    ]
    for lab in m.precision:
        for part in ("precision", "recall"):
            key = f"{part} of {lab}"
            if key in checks:
                rows.append([md_escape(key), fmt_interval(getattr(m, part)[lab]), verdict(key)])
    rows += [
        ["accuracy", fmt_interval(m.accuracy), "–"],
        ["undecided items (last tier not ok)", str(m.undecided), "–"],
        ["cost per item", _usd(m.cost_per_decision_usd), "–"],
        ["cost per day", _usd(m.cost_per_day_usd), "–"],
        ["human hours per day", _hours(m.human_hours_per_day), "–"],
    ]
    return rows


def _policy_section(p: PolicyRouting, plan_doc: RoutingPlan) -> list[str]:
    out = [f"## {md_escape(p.policy)}", "", f"### {_HEADLINE[p.status]}", "",
           md_escape_text(p.recommendation), ""]
    out += _table(["tier", "does", "share of items", "on validation items"], _tier_rows(p.plan))
    out += _table(["expected (validation items)", "value", "target"],
                  _expected_rows(p.plan, p.violating))
    for note in p.notes:
        out += [f"> {md_escape_text(note)}", ""]
    failed = [c for c in p.plan.target_checks if c.met is False and c.scope != "end to end"]
    for c in failed:
        out += [f"- {md_escape(c.scope)}: {_cell(c.target)} — {fmt_interval(c.value)} **not met**"]
    if failed:
        out.append("")
    out += ["Sign-off:", ""]
    out += _table(["role", "name", "decision", "date"],
                  [[r, "", "", ""] for r in ("Policy owner", "Program manager", "QA lead",
                                             "Vendor (BPO) operations")])
    qa = p.qa_request
    out += [f"### QA request — {md_escape(p.policy)}", "",
            f"Each week QA labels these samples; each confirms its target at {qa.confidence:.0%} "
            f"confidence with {qa.power:.0%} power if the plan performs as expected on validation "
            f"items (about {qa.items_per_week:,} items a week in all; one labeled item may serve "
            "several checks). QA is judged on the same targets and metrics as the plan.", ""]
    out += _table(["check", "target", "sample from", "expected", "items / week", "stream / week",
                   "note"],
                  [[md_escape(s.check), _cell(s.target), md_escape(s.sample_from),
                    "–" if s.expected is None else f"{s.expected:.3f}",
                    "–" if s.items_per_week is None else f"{s.items_per_week:,}",
                    f"{s.stream_items_per_week:,}", md_escape(s.note)] for s in qa.samples])
    out += [f"### Evidence — {md_escape(p.policy)}", "", "#### Each decider as the first tier", ""]
    out += [f"- {md_escape_text(v)}" for v in p.tier_verdicts.values()] or \
        ["- no decider gives scores, so none can take a threshold"]
    out += [f"- **{md_escape_text(f)}**" for t in p.thresholds for f in t.slice_flags]
    out.append("")
    rows = []
    for t in p.thresholds:
        c, v = t.calibration, t.validation
        rows.append([md_escape(t.decider), t.side.replace("_", "-"), _cell(t.rule),
                     _pct(c.share if c else None), _pct(v.share if v else None),
                     fmt_interval(v.rate if v else None),
                     "–" if v is None or v.bound is None else f"{v.bound:.3f}",
                     "yes" if t.confirmed else "no"])
    if rows:
        out += _table(["decider", "step", "threshold", "takes (calibration)", "takes (validation)",
                       "rate on validation", "bound", "holds"], rows)
        out += ["Rate: precision for auto-action; violating share of cleared items for "
                f"auto-clear. Bound: one-sided {plan_doc.confidence:.0%} Clopper–Pearson bound "
                "(lower for precision, upper for the violating share).", ""]
    out += ["#### Baselines (one decider decides everything; validation items)", ""]
    out += _table(["plan", "precision", "recall", "accuracy", "$/item", "$/day", "human h/day",
                   "meets targets"],
                  [[md_escape(b.name), fmt_interval(b.expected.violating_precision),
                    fmt_interval(b.expected.violating_recall), fmt_interval(b.expected.accuracy),
                    _usd(b.expected.cost_per_decision_usd), _usd(b.expected.cost_per_day_usd),
                    _hours(b.expected.human_hours_per_day), "yes" if b.meets_targets else "no"]
                   for b in p.baselines])
    out += [f"#### Cost–quality frontier ({p.searched:,} plans tried on calibration items)", ""]
    out += _table(["plan", "$/item (cal)", "F1 (cal)", "meets targets (cal)", "precision (val)",
                   "recall (val)", "$/item (val)"],
                  [[md_escape(f.name), _usd(f.cost_per_decision_usd), f"{f.violating_f1:.3f}",
                    "yes" if f.meets_targets_on_calibration else "no",
                    fmt_interval(f.validation.violating_precision), fmt_interval(f.validation.violating_recall),
                    _usd(f.validation.cost_per_decision_usd)] for f in p.frontier])
    if p.slices:
        out += ["#### Slices (validation items)", ""]
        flags = [f for s in p.slices for f in s.flags]
        out += [f"- **{md_escape_text(f)}**" for f in flags] or \
            ["- no slice where an automated tier must not take cases (slices with at least "
             f"{plan_doc.targets['min_slice_items']} items taken are judged)"]
        out.append("")
        out += _table(["slice", "n", "automated", "precision", "recall", "judged"],
                      [[f"{md_escape(s.key)}={md_escape(s.value, 40)}", str(s.n),
                        fmt_interval(s.automated_share), fmt_interval(s.violating_precision),
                        fmt_interval(s.violating_recall), "yes" if s.judged else "too few"]
                       for s in p.slices[:40]])
        if len(p.slices) > 40:
            out += [f"({len(p.slices) - 40} smaller slices are in routing.yaml)", ""]
    left = ", ".join(f"{n} {md_escape(r)}" for r, n in p.items["left_out"].items())
    out += ["#### Items", "",
            f"{p.items['used']} items used: {p.items['calibration']} chose the thresholds "
            f"(calibration), {p.items['validation']} checked them (validation)."
            + (f" Left out of every plan: {left}." if left else ""), ""]
    return out


def _symbols(text: str) -> str:
    return text.replace(">=", "≥").replace("<=", "≤")


def md_escape_text(text: str) -> str:
    """Escape running text (not a table cell): keep it readable, neutralise markup and HTML."""
    return _symbols(text).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")\
        .replace("*", "\\*").replace("_", "\\_")


def _cell(text: object, limit: int | None = None) -> str:
    return md_escape(_symbols(str(text)), limit)


def render_routing_markdown(plan: RoutingPlan) -> str:
    """``routing.md``: recommendation first, plainly worded, then the evidence."""
    t = plan.targets
    out = [f"# Routing plan — {md_escape(plan.run_id)}", "",
           f"Targets: {md_escape_text(_targets_line(t))}."
           + "".join(f" {md_escape(p.policy)}: {md_escape_text(_targets_line(p.targets))}."
                     for p in plan.policies if len(plan.policies) > 1) + " "
           f"Daily volume {plan.daily_volume:,} items per policy; confidence {plan.confidence:.0%}.",
           "",
           "Every expected number comes from validation items that the thresholds never saw "
           f"(items split by a seeded hash of their id, seed {plan.seed}; "
           f"{plan.split['calibration_share']:.0%} chose the thresholds). An automated step holds "
           f"when the one-sided {plan.confidence:.0%} Clopper–Pearson bound on validation items "
           "meets its target, so each automated step is guaranteed at that confidence; end-to-end "
           "targets are met when the validation estimate reaches them (intervals in brackets are "
           f"{plan.confidence:.0%} Clopper–Pearson). Decisions that were invalid, refused or "
           "failed are never auto-decided: they are escalated to the next tier.", ""]
    for p in plan.policies:
        out += _policy_section(p, plan)
    return "\n".join(out).rstrip() + "\n"


def summary_lines(plan: RoutingPlan) -> list[str]:
    """What ``evalharness route`` prints: per policy the recommendation and key facts."""
    lines = []
    for p in plan.policies:
        lines.append(f"{p.policy}: {_HEADLINE[p.status].lower()}")
        lines.append(f"  {p.recommendation}")
        for verdict in p.tier_verdicts.values():
            lines.append(f"  - {verdict}")
        for note in p.notes:
            lines.append(f"  note: {note}")
        for s in p.slices:
            for f in s.flags:
                lines.append(f"  flag: {f}")
        lines.append(f"  QA: label about {p.qa_request.items_per_week:,} items a week to confirm "
                     "the targets (see routing.md)")
    return lines
