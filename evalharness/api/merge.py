"""``evalharness merge``: the run folders of ``run --shard K/N`` (K = 1..N) as one run.

The merged run's decisions are the shards' decisions; its metrics, reports and routing plan are
computed from them as for any run. Every number that needs resampling is keyed by item id (the
Poisson bootstrap) and every split by a hash of the id, so they equal those of the same config run
unsharded. Shards of different configs, policies, prices or golden-set selections are refused.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..execution.rundir import RunDir
from ..records import Manifest
from ..records.errors import Problem, RunDirError, UsageError
from .reports import report_run
from ..execution.batches import LEDGER
from .run import RunResult, check_error_budget, decision_counts, list_batches

__all__ = ["merge_runs"]

_PER_RUN = {"run_id", "status", "started_at", "finished_at", "counts", "endpoints",
            "error_budget", "golden_set", "config_hash", "git", "package_versions", "deciders",
            "config_path"}
"""Manifest fields that differ between the shards of one run (the rest must agree)."""


def _what(manifest: Manifest) -> dict[str, Any]:
    """What must be equal across the shards: config, policies, prices, slice keys, the whole
    selection and the number of shards."""
    shard = manifest.golden_set.shard
    data = manifest.model_dump(mode="json", exclude=_PER_RUN)
    data["selection"] = [shard.selection_sha256, shard.of] if shard else None
    data["golden_file"] = manifest.golden_set.file_sha256
    return data


def merge_runs(run_dirs: list[Path | str], out_dir: Path | str, *,
               run_id: str | None = None) -> RunResult:
    """Combine the complete shard folders ``run_dirs`` (every K of N once) into ``out_dir/run_id``
    and write its metrics and reports. Raises :class:`RunDirError` naming the shard that differs
    or is missing."""
    runs = [RunDir(Path(p)) for p in run_dirs]
    if not runs:
        raise UsageError("no run folder to merge", field="RUN", fix="give every shard's folder")
    manifests = [r.read_manifest() for r in runs]
    problems = []
    for run, m in zip(runs, manifests):
        if m.golden_set.shard is None:
            problems.append(Problem("not a shard (run without --shard)", str(run.path),
                                    field="golden_set.shard", fix="merge the folders of "
                                    "run --shard K/N"))
        elif m.status != "complete":
            problems.append(Problem(f"shard {m.golden_set.shard.index}/{m.golden_set.shard.of} is "
                                    f"{m.status}", str(run.path), field="status",
                                    fix="finish it with run --resume --shard K/N"))
    if problems:
        raise RunDirError(problems=problems)
    first = _what(manifests[0])
    for run, m in zip(runs[1:], manifests[1:]):
        other = _what(m)
        differs = sorted(k for k in first.keys() | other.keys() if first.get(k) != other.get(k))
        if differs:
            raise RunDirError(f"this shard differs from {runs[0].path.name} in {differs[0]}"
                              + (f" (and {', '.join(differs[1:])})" if differs[1:] else ""),
                              file=str(run.path), field=differs[0],
                              fix="merge shards of one config, its policies, prices and golden "
                                  "set, run with the same --shard N")
    of = manifests[0].golden_set.shard.of  # type: ignore[union-attr]
    seen = [m.golden_set.shard.index for m in manifests]  # type: ignore[union-attr]
    missing = sorted(set(range(1, of + 1)) - set(seen))
    twice = sorted({k for k in seen if seen.count(k) > 1})
    if missing or twice:
        raise RunDirError(f"shards {'missing: ' + str(missing) if missing else ''}"
                          f"{'; ' if missing and twice else ''}"
                          f"{'given twice: ' + str(twice) if twice else ''} of {of}",
                          field="RUN", fix=f"give each of the {of} shard folders once")
    order = sorted(range(len(runs)), key=lambda i: seen[i])
    runs, manifests = [runs[i] for i in order], [manifests[i] for i in order]
    whole = manifests[0].golden_set.shard
    assert whole is not None
    items = [it for r in runs for it in r.read_items().values()]
    if len(items) != whole.n_items:
        raise RunDirError(f"the shards hold {len(items)} items, the selection {whole.n_items}",
                          field="RUN", fix="re-run the shards of the same selection")
    name = run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{manifests[0].config.get('name')}-merged"
    merged = RunDir(Path(out_dir) / name)
    if merged.file("manifest.json").exists():
        raise UsageError(f"run {name!r} already exists in {out_dir}", field="--run-id",
                         fix="choose another --run-id")
    merged.path.mkdir(parents=True, exist_ok=True)
    merged.write_items(items)
    for file in ("decisions.jsonl", LEDGER):  # every shard's decisions and provider batches
        if any(r.file(file).exists() for r in runs):
            with open(merged.file(file), "wb") as out:
                for r in runs:
                    if r.file(file).exists():
                        out.write(r.file(file).read_bytes())
    manifest = _merged_manifest(manifests, name)
    list_batches(manifest, merged)
    decisions = merged.read_table()
    manifest.counts = {**decision_counts(decisions), "model_calls_this_session": sum(
        m.counts.get("model_calls_this_session", 0) for m in manifests)}
    breaches = check_error_budget(manifest, decisions, manifest.config.get("max_error_rate"))
    merged.write_manifest(manifest)
    metrics = report_run(merged, manifest, decisions)
    return RunResult(run_dir=merged.path, manifest=manifest, metrics=metrics,
                     exit_code=3 if breaches else 0, budget_breaches=breaches)


def _merged_manifest(manifests: list[Manifest], run_id: str) -> Manifest:
    first = manifests[0]
    whole = first.golden_set.shard
    assert whole is not None
    golden = first.golden_set.model_copy(update={
        "selection_sha256": whole.selection_sha256, "n_items": whole.n_items, "shard": None})
    payload = {"config": json.dumps(first.config, sort_keys=True),
               "prompts": {pid: p.prompt_hash for pid, p in first.policies.items()},
               "items": whole.selection_sha256}
    return first.model_copy(update={
        "run_id": run_id, "status": "complete", "golden_set": golden,
        "started_at": min(m.started_at for m in manifests),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_hash": hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(),
        "merged_from": [m.run_id for m in manifests],
        "endpoints": {}})
