"""A batched decider (``batch: true``) against the same decider online, side by side.

Starts the stub server as a child process on 127.0.0.1 (no latency online; batches finish
``--batch-duration`` seconds after they are created), writes a golden set of N items and two
configs that differ only in ``batch:`` (model ``openai/gpt-4o-mini`` priced from litellm's map:
online rates and batch rates), then runs ``python -m evalharness run`` on each, alternating for
``--rounds`` rounds with ``--no-cache``.

Per side: wall time, the run process's CPU (user+sys, from ``wait4``), CPU per decision, model
calls the server counted (online completions, or batch lines answered), and the recorded cost
per 1M decisions. Prints markdown; paste the table into RESULTS.md.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from evalharness.testing.stub_process import StubProcess  # noqa: E402

WORDS = ("a calm note about bread", "I hate them all", "photos of the listing",
         "the seller was lovely", "they should all be kicked out")


def write_inputs(folder: Path, n: int, url: str, concurrency: int) -> dict[str, Path]:
    golden = folder / "items.jsonl"
    golden.write_text("".join(json.dumps({
        "id": f"x{i:06d}", "text": f"{WORDS[i % len(WORDS)]} {i}",
        "labels": {"hate_speech": "hate" if i % len(WORDS) in (1, 4) else "none"}}) + "\n"
        for i in range(n)))
    configs = {}
    for side, batch in (("online", False), ("batch", True)):
        config = {"name": f"bench-{side}", "golden_set": {"path": str(golden)},
                  "policies": ["hate_speech"], "policies_dir": str(REPO / "policies"),
                  "max_error_rate": 1.0,
                  "cache": {"dir": str(folder / "cache")},
                  "deciders": [{"name": "gpt", "kind": "llm", "model": "openai/gpt-4o-mini",
                                "api_base": url, "concurrency": concurrency, "batch": batch,
                                "batch_poll_s": 0.5}]}
        configs[side] = folder / f"{side}.yaml"
        configs[side].write_text(yaml.safe_dump(config))
    return configs


def server_counts(server: StubProcess) -> tuple[int, int]:
    stats = server.stats()
    return stats["completions"], stats["batches"]["lines_answered"]


def one_run(config: Path, out: Path, run_id: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user+sys) of one ``evalharness run`` process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "evalharness", "run", str(config),
                                "--out", str(out), "--run-id", run_id, "--no-cache"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{config.name}: exit {process.returncode}: {stderr[-2000:]!r}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-duration", type=float, default=5.0)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows: dict[str, list[tuple[float, float, int, float]]] = {"online": [], "batch": []}
    with tempfile.TemporaryDirectory() as tmp, StubProcess(
            "--batch-duration", str(args.batch_duration)) as server:
        folder = Path(tmp)
        configs = write_inputs(folder, args.items, server.url, args.concurrency)
        for round_no in range(args.rounds):
            order = ("online", "batch") if round_no % 2 == 0 else ("batch", "online")
            for side in order:
                before = server_counts(server)
                wall, cpu = one_run(configs[side], folder / "runs", f"{side}-{round_no}")
                after = server_counts(server)
                calls = (after[0] - before[0]) + (after[1] - before[1])
                rows_path = folder / "runs" / f"{side}-{round_no}" / "decisions.jsonl"
                cost = sum(json.loads(line)["cost_usd"]
                           for line in rows_path.read_text().splitlines())
                rows[side].append((wall, cpu, calls, cost))
    print(f"## batch_api.py — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
          f"({platform.machine()}, {os.cpu_count()} cores, load {load:.2f} -> "
          f"{os.getloadavg()[0]:.2f})\n")
    print(f"{args.items} items, 1 policy, concurrency {args.concurrency} online, batches end "
          f"{args.batch_duration:g} s after creation, {args.rounds} rounds alternating, "
          "`--no-cache`; medians:\n")
    print("| side | wall s | CPU s | CPU ms/decision | model calls | cost per 1M decisions |")
    print("|---|---:|---:|---:|---:|---:|")
    med = {}
    for side, runs in rows.items():
        wall, cpu, calls, cost = (sorted(values)[len(values) // 2] for values in zip(*runs))
        med[side] = (wall, cpu, cost)
        print(f"| {side} | {wall:.2f} | {cpu:.2f} | {1000 * cpu / args.items:.3f} | {calls} | "
              f"${cost / args.items * 1e6:,.2f} |")
    print(f"\nBatch / online: wall {med['batch'][0] / med['online'][0]:.2f}x, CPU "
          f"{med['batch'][1] / med['online'][1]:.2f}x, cost {med['batch'][2] / med['online'][2]:.2f}x"
          " (the wall time of a real batch is the provider's turnaround, up to its window)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
