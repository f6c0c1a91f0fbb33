"""A policy bundle against one call per policy, on the shipped OpenAI moderation set (5 policies)
with the embedded SmolLM2 model: what bundling saves and what it costs in quality.

Both sides run the same sampled items (``--items``, seeded) with ``--no-cache``, alternating which
goes first each round (``--rounds``). Quality comes from ``compare_runs`` on the last round's two
runs (paired bootstrap intervals, McNemar); cost is compute time at the decider's hourly rate (the
embedded model pays no tokens) and, as an estimate, the tokens each side's decisions record priced
at gpt-4o-mini's list rates. Prints markdown; exits 1 when a run fails.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalharness import run_eval  # noqa: E402
from evalharness.api.comparison import compare_runs  # noqa: E402

POLICIES = ["hate_speech", "harassment_abuse", "sexual", "violence", "self_harm"]
GPT_4O_MINI = {"input": 0.15, "cached_input": 0.075, "output": 0.60}
"""USD per million tokens (OpenAI's list prices), for the token-cost estimate."""
HOURLY_USD = 0.10
"""Compute cost per hour of the machine running the embedded model."""


def _config(folder: Path, items: int, bundled: bool) -> Path:
    decider = {"name": "smollm2", "kind": "llm", "model": "embedded", "n_ctx": 4096,
               "compute_cost_per_hour_usd": HOURLY_USD}
    if bundled:
        decider["bundle"] = "moderation"
    config = {"name": "bundle-bench",
              "golden_set": {"path": str(REPO / "golden_sets/openai_moderation/items.jsonl.gz"),
                             "sample": {"n": items, "seed": 7}},
              "policies": POLICIES, "policies_dir": str(REPO / "policies"),
              "bundles": {"moderation": POLICIES}, "deciders": [decider],
              "max_error_rate": None}
    path = folder / f"{'bundled' if bundled else 'single'}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _decisions(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "decisions.jsonl").read_text().splitlines()]


def _token_cost(rows: list[dict]) -> float:
    total = 0.0
    for r in rows:
        u = r["usage"]
        total += ((u["prompt_tokens"] - u["cached_tokens"]) * GPT_4O_MINI["input"]
                  + u["cached_tokens"] * GPT_4O_MINI["cached_input"]
                  + u["completion_tokens"] * GPT_4O_MINI["output"]) / 1e6
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    seconds: dict[str, list[float]] = {"single": [], "bundled": []}
    last: dict[str, Path] = {}
    for round_no in range(args.rounds):
        order = ["single", "bundled"] if round_no % 2 == 0 else ["bundled", "single"]
        for side in order:
            config = _config(folder, args.items, side == "bundled")
            start = time.perf_counter()
            result = run_eval(config, out_dir=folder / "runs", run_id=f"{side}-{round_no}",
                              use_cache=False, live_progress=False)
            seconds[side].append(time.perf_counter() - start)
            if result.manifest.counts.get("error"):
                print(f"{side} run had errors: {result.manifest.counts}", file=sys.stderr)
                return 1
            last[side] = result.run_dir
    rows = {side: _decisions(path) for side, path in last.items()}
    calls = {side: sum(r["attempts"] for r in rs) for side, rs in rows.items()}
    n = {side: len(rs) for side, rs in rows.items()}
    cost = {side: sum(r["cost_usd"] for r in rs) / n[side] for side, rs in rows.items()}
    tokens = {side: _token_cost(rs) / n[side] for side, rs in rows.items()}
    decide_s = {side: sum(r["latency_s"] for r in rs if r["attempts"]) for side, rs in rows.items()}
    compared = compare_runs(last["single"], last["bundled"], n_resamples=2000)

    print(f"## bench/bundles.py — {datetime.date.today()}, {platform.machine()}, "
          f"{os.cpu_count()} cores, python {platform.python_version()}\n")
    print(f"OpenAI moderation set, {args.items} sampled items (seed 7), {len(POLICIES)} policies, "
          f"embedded SmolLM2-135M (n_ctx 4096), --no-cache, {args.rounds} rounds alternating.\n")
    print("| | one call per policy | bundle (one call per item) | bundle / single |")
    print("|---|---|---|---|")
    print(f"| decisions | {n['single']} | {n['bundled']} | |")
    print(f"| model calls | {calls['single']} | {calls['bundled']} | "
          f"{calls['bundled'] / calls['single']:.3f} |")
    print(f"| model time in calls, s (last round) | {decide_s['single']:.1f} | "
          f"{decide_s['bundled']:.1f} | {decide_s['bundled'] / decide_s['single']:.3f} |")
    walls = {side: statistics.median(v) for side, v in seconds.items()}
    print(f"| run wall time, s (median of {args.rounds}) | {walls['single']:.1f} | "
          f"{walls['bundled']:.1f} | {walls['bundled'] / walls['single']:.3f} |")
    print(f"| compute cost per decision at ${HOURLY_USD}/h | ${cost['single']:.3g} | "
          f"${cost['bundled']:.3g} | {cost['bundled'] / cost['single']:.3f} |")
    print(f"| recorded tokens priced at gpt-4o-mini list rates, per decision (estimate) | "
          f"${tokens['single']:.3g} | ${tokens['bundled']:.3g} | "
          f"{tokens['bundled'] / tokens['single']:.3f} |\n")
    print("| policy | n | accuracy single | accuracy bundle | Δ accuracy [95% paired] | McNemar p "
          "| flips ✓→✗ / ✗→✓ |")
    print("|---|---|---|---|---|---|---|")
    for pc in compared.policies:
        for dc in pc.deciders:
            acc = next(d for d in dc.deltas if d.metric == "accuracy")
            p = f"{acc.p_value:.3g}" if acc.p_value is not None else "–"
            print(f"| {pc.policy} | {dc.n_paired} | {acc.base.text(3)} | {acc.candidate.text(3)} "
                  f"| {acc.diff.text(3, signed=True)} | {p} | {dc.flips.correct_to_wrong} / "
                  f"{dc.flips.wrong_to_correct} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
