"""``run --executor ray``: a run's shards as Ray tasks on a cluster, then one merge.

Each task is ``run --shard K/N`` (:func:`~.run.run_eval` with ``shard=(k, n)``), writing its
shard folder under ``<out>/<run_id>-shards/``; ``out`` must be storage every node can reach.
When every shard is complete, :func:`~.merge.merge_runs` writes ``<out>/<run_id>``, equal to the
same config run on one machine. A task whose worker died is retried by Ray (``max_retries``) and
resumes the folder the dead worker left: the folder's lock lets one process write it, and a
resumed run never writes a decision twice. Ctrl-C cancels the tasks; ``--resume`` with the same
``--run-id`` finishes the unfinished shards and merges. Ray is an optional extra
(``evalharness[ray]``); nothing here is imported without it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..execution.rundir import RunDir
from ..execution.workplan import build_work_plan
from ..records import errors
from ..records.errors import EvalHarnessError, Problem, UsageError
from .merge import merge_runs
from .run import RunResult, run_eval

__all__ = ["run_on_ray"]

ENVIRONMENT = ("EVALHARNESS_HOME", "EVALHARNESS_CACHE_DIR", "LITELLM_LOCAL_MODEL_COST_MAP",
               "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "OPENAI_API_KEY")
"""Variables the shard tasks see as the driver does (an api_key_env named by the config too)."""
TASK_RETRIES = 3
"""Times Ray runs a shard's task again after its worker died."""


def run_on_ray(config_path: Path | str, *, address: str | None = None,
               shards: int | None = None, out_dir: Path | str | None = None,
               run_id: str | None = None, resume: bool = False, use_cache: bool = True,
               limit: int | None = None, say: Callable[[str], None] | None = None,
               every_s: float = 5.0) -> RunResult:
    """Run ``config_path`` as ``shards`` Ray tasks (default: the cluster's CPUs) on the cluster at
    ``address`` (default: a local Ray instance), then merge; returns the merged run."""
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray", field="--executor",
                         fix="pip install 'evalharness[ray]'") from None
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    plan = build_work_plan(config_path, limit=limit)  # bad input stops here, before the cluster
    out = Path(out_dir) if out_dir is not None else (
        plan.config.resolve(plan.config.output_dir) if plan.config.output_dir else Path("results"))
    if resume and not run_id:
        raise UsageError("--executor ray --resume needs the --run-id of the run to finish",
                         field="--run-id", fix="pass the run id the first session printed")
    run_id = run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{plan.config.name}"
    merged = out / run_id
    if (merged / "manifest.json").exists():
        if not resume:
            raise UsageError(f"run {run_id!r} already exists in {out}", field="--run-id",
                             fix="add --resume to finish it, or choose another --run-id")
        if RunDir(merged).read_manifest().status == "complete":
            raise UsageError(f"run {run_id!r} is already complete", field="--run-id",
                             fix="nothing to resume; report or route it")
    folder = out / f"{run_id}-shards"
    started_here = not ray.is_initialized()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage report
    if started_here:
        env = {name: os.environ[name] for name in _environment(plan) if name in os.environ}
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env}, configure_logging=False)
    try:
        n = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
        if resume:
            n = _shards_of_earlier(folder, run_id) or n
        task = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False)(_shard_task)
        ids = [f"{run_id}-shard{k}of{n}" for k in range(1, n + 1)]
        refs = {task.remote(str(Path(config_path).resolve()), k, n, str(folder), ids[k - 1],
                            limit, use_cache): k for k in range(1, n + 1)}
        say(f"ray: {n} shards of {run_id} on {ray.cluster_resources().get('CPU', 0):g} CPUs, "
            f"into {folder}")
        _wait_all(ray, refs, folder, ids, say, every_s, run_id)
    finally:
        if started_here:
            ray.shutdown()
    return merge_runs([folder / shard_id for shard_id in ids], out, run_id=run_id)


def _environment(plan: Any) -> list[str]:
    keys = [getattr(d, "config", None) for d in plan.deciders]
    return [*ENVIRONMENT, *(c.api_key_env for c in keys if getattr(c, "api_key_env", None))]


def _shards_of_earlier(folder: Path, run_id: str) -> int | None:
    """N of the shard folders an earlier session made."""
    for path in sorted(folder.glob(f"{run_id}-shard*of*")):
        return int(path.name.rsplit("of", 1)[1])
    return None


def _wait_all(ray: Any, refs: dict[Any, int], folder: Path, ids: list[str],
              say: Callable[[str], None], every_s: float, run_id: str) -> None:
    """Wait for every shard task, saying how far they got; a shard's bad input or decider error
    stops the run with that shard's lines; Ctrl-C cancels the tasks."""
    pending = list(refs)
    last = time.monotonic()
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                k = refs[ref]
                failed = ray.get(ref)
                if failed is not None:
                    kind, problems = failed
                    error = getattr(errors, kind, EvalHarnessError)(
                        problems=[Problem(f"shard {k}/{len(ids)}: {p.message}", p.file, p.line,
                                          p.field, p.fix) for p in problems])
                    raise error
                say(f"ray: shard {k}/{len(ids)} complete ({_decided(folder / ids[k - 1])} "
                    "decisions)")
            if pending and time.monotonic() - last >= every_s:
                last = time.monotonic()
                total = sum(_decided(folder / shard_id) for shard_id in ids)
                say(f"ray: {len(ids) - len(pending)}/{len(ids)} shards complete, {total} "
                    "decisions so far")
    except (KeyboardInterrupt, EvalHarnessError):
        for ref in pending:
            ray.cancel(ref, force=True)
        say(f"ray: stopped; every finished decision is in {folder}; finish with run --executor "
            f"ray --resume --run-id {run_id}")
        raise


def _decided(run: Path) -> int:
    path = run / "decisions.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _shard_task(config: str, k: int, n: int, folder: str, shard_id: str, limit: int | None,
                use_cache: bool) -> tuple[str, list[Problem]] | None:
    """One shard, on a Ray worker: start it, or resume what an earlier attempt (a worker that
    died, an earlier session) left. None when complete; else the error's kind and problems."""
    run = RunDir(Path(folder) / shard_id)
    started = (run.path / "manifest.json").exists()
    if started and run.read_manifest().status == "complete":
        return None
    try:
        run_eval(config, shard=(k, n), run_id=shard_id, out_dir=folder, resume=started,
                 use_cache=use_cache, limit=limit, live_progress=False)
    except EvalHarnessError as exc:
        return type(exc).__name__, exc.problems
    return None
