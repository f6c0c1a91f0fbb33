"""API throughput of a whole ``evalharness run`` process against bare client loops, and a cached rerun.

Starts the stub server (``python -m evalharness.testing.stub_server``) as a separate process on
127.0.0.1 with a fixed latency. Writes a golden set of N items and a config with one ``kind: llm``
decider on the OpenAI-compatible path (``api_base`` = the stub, a price given, a private response
cache), then, side by side in one run:

1. ``python -m evalharness run`` as a subprocess (start-up, decisions, cache writes, reports);
2. a bare ``openai.AsyncOpenAI`` loop and 3. a raw aiohttp loop, both sending the harness's own
   request bodies (dumped from its work plan) at the same concurrency (clients from
   ``bench/client_overhead.py``);
4. the same config again with a new run id, every answer from the response cache.

Per side: wall time, throughput as a share of the ideal (concurrency / latency), CPU per item (the
harness: its process's user+sys from ``getrusage(RUSAGE_CHILDREN)``; the loops: this process's
``time.process_time()``), and the completions the server saw. Prints markdown; see README.md.
``--profile`` also writes a cProfile of each harness run next to the table (``--keep``).
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import client_overhead as co  # noqa: E402

REPO = co.REPO
WORDS = ("", "", "lovely", "market", "bread", "listing", "photos", "seller")

DUMP = """
import json, sys
from evalharness.deciders.base import DecisionRequest
from evalharness.execution.workplan import build_work_plan
plan = build_work_plan(sys.argv[1])
decider = plan.deciders[0]
decider.setup(plan.decider_policies(decider), plan.items)
with open(sys.argv[2], "w") as out:
    for policy in plan.decider_policies(decider):
        for item in plan.items_for(policy):
            body = decider.payload(DecisionRequest(item, policy))
            body = {k: v for k, v in body.items() if k not in ("api_base", "policy")}
            body["model"] = body["model"].split("/", 1)[1]
            out.write(json.dumps({"body": body, "gold": item.labels[policy.id]}) + "\\n")
"""


def write_inputs(folder: Path, n: int, url: str, concurrency: int) -> Path:
    """A golden set of ``n`` items (a third with a violating word) and its config."""
    with open(folder / "items.jsonl", "w") as out:
        for i in range(n):
            hate = i % 3 == 0
            word = "people I hate" if hate else WORDS[2 + i % 6]
            text = (f"Item {i}: the people at stall {i * 7919 % 10007} are {word}, "
                    f"seen near the {WORDS[2 + i % 5]} on day {i % 31}.")
            out.write(json.dumps({"id": f"i{i:06d}", "text": text,
                                  "labels": {"hate_speech": "hate" if hate else "none"}}) + "\n")
    config = {
        "name": "api-throughput",
        "golden_set": {"path": str(folder / "items.jsonl")},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "cache": {"dir": str(folder / "cache")},
        "deciders": [{
            "name": "stub-llm", "kind": "llm", "model": "openai/stub", "api_base": url,
            "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
            "concurrency": concurrency, "max_attempts": 1, "timeout_s": 30,
        }],
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path


@dataclass
class Side:
    name: str
    n: int
    wall_s: float
    cpu_s: float
    reached_server: int
    errors: int
    wrong: int
    phase_s: float | None = None
    note: str = ""
    prompt_tokens: int = 0

    @property
    def rate(self) -> float:
        return self.n / self.wall_s


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def harness_run(config: Path, out: Path, run_id: str, server: co.Server, n: int,
                budget_s: float, profile: Path | None) -> Side:
    """One ``evalharness run`` process; checks its decisions."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []),
           "-m", "evalharness", "run", str(config), "--out", str(out), "--run-id", run_id]
    before, cpu0, wall0 = server.completions(), _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=budget_s,
                          stdin=subprocess.DEVNULL)
    wall, cpu = time.perf_counter() - wall0, _child_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"evalharness run exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / run_id / "decisions.jsonl").open()]
    gold = {json.loads(line)["id"]: json.loads(line)["labels"]["hate_speech"]
            for line in (config.parent / "items.jsonl").open()}
    errors = sum(r["outcome"] != "ok" for r in rows)
    wrong = sum(r["outcome"] == "ok" and r["label"] != gold[r["item_id"]] for r in rows)
    # the run's own deciding phase: its last progress line says "<done>/<total> ... <rate>/s"
    rates = re.findall(r"\[(\d+)/(\d+)\][^\n]* ([\d.]+)/s", proc.stderr)
    phase = int(rates[-1][0]) / float(rates[-1][2]) if rates and float(rates[-1][2]) else None
    if len(rows) != n:
        errors += abs(n - len(rows))
    cached = sum(r["cached"] for r in rows)
    return Side("", n, wall, cpu, server.completions() - before, errors, wrong, phase,
                f"{cached} cached", rows[0]["usage"]["prompt_tokens"] if rows else 0)


def aiohttp_client(url: str, body: Any, concurrency: int) -> tuple[co.Call, Any]:
    """A raw aiohttp POST per item; returns the call and a closer."""
    import aiohttp

    session: aiohttp.ClientSession | None = None

    async def call(i: int) -> str:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                            headers={"Authorization": "Bearer x"})
        async with session.post(url + "/chat/completions", json=body(i)) as resp:
            resp.raise_for_status()
            reply = json.loads(await resp.read())
        return reply["choices"][0]["message"]["content"] or ""

    async def close() -> None:
        if session is not None:
            await session.close()

    return call, close


async def bare_loops(server: co.Server, bodies: list[dict[str, Any]], golds: list[str],
                     concurrency: int, budget_s: float) -> list[Side]:
    n = len(bodies)

    def body(i: int) -> dict[str, Any]:
        return bodies[i % n]

    def expect(i: int) -> str:
        return golds[i % n]

    http_call, http_close = aiohttp_client(server.url, body, concurrency)
    clients = {"bare openai.AsyncOpenAI loop": co.openai_client(server.url, body),
               "raw aiohttp loop": http_call}
    sides = []
    for name, call in clients.items():
        warm = min(n, 2 * concurrency)  # connection pool, lazy imports: not counted
        await co.run_round(call, warm, concurrency, 0, budget_s, expect)
        before = server.completions()
        wall, cpu, errors, wrong = await co.run_round(call, n, concurrency, 0, budget_s, expect)
        sides.append(Side(name, n, wall, cpu, server.completions() - before, errors, wrong))
    await http_close()
    return sides


def dump_bodies(config: Path, folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    path = folder / "bodies.jsonl"
    subprocess.run([sys.executable, "-c", DUMP, str(config), str(path)], check=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    rows = [json.loads(line) for line in path.open()]
    return [r["body"] for r in rows], [r["gold"] for r in rows]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency", type=float, default=0.2, help="server latency per request, s")
    p.add_argument("--profile", action="store_true", help="cProfile both harness runs")
    p.add_argument("--no-bare", action="store_true",
                   help="only the two harness runs (e.g. to measure another checkout's harness)")
    p.add_argument("--keep", type=Path, default=None,
                   help="keep the work folder (config, run folders, cache, profiles) here")
    args = p.parse_args()
    ideal = args.concurrency / args.latency
    budget = max(120.0, 10 * args.items / ideal)
    started = datetime.datetime.now().astimezone()
    load_before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="api-throughput-"))
    server = co.Server(args.latency)
    try:
        config = write_inputs(folder, args.items, server.url, args.concurrency)
        bodies, golds = dump_bodies(config, folder)
        prof = (lambda name: folder / f"{name}.prof") if args.profile else (lambda name: None)
        print("# evalharness run, cold cache", file=sys.stderr)
        cold = harness_run(config, folder / "runs", "cold", server, args.items, budget,
                           prof("cold"))
        cold.name = "evalharness run (cold cache)"
        print("# bare loops", file=sys.stderr)
        bare = ([] if args.no_bare else
                asyncio.run(bare_loops(server, bodies, golds, args.concurrency, budget)))
        print("# evalharness run, every answer cached", file=sys.stderr)
        warm = harness_run(config, folder / "runs", "cached", server, args.items, budget,
                           prof("cached"))
        warm.name = "evalharness run (cached rerun)"
    finally:
        server.stop()
        if args.keep:
            shutil.copytree(folder, args.keep, dirs_exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    import aiohttp
    import openai

    prompt_tokens = cold.prompt_tokens
    lines = [
        f"Date: {started:%Y-%m-%d %H:%M %Z}. Machine: {os.cpu_count()} cores, "
        f"{platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}; "
        f"openai {openai.__version__}, aiohttp {aiohttp.__version__}. Load average (1 min) "
        f"before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}.",
        "",
        f"Setup: stub server in its own process, {args.latency * 1000:.0f} ms latency; "
        f"{args.items} items at concurrency {args.concurrency}; ideal {ideal:.0f} items/s"
        + (f"; {prompt_tokens} prompt tokens per request" if prompt_tokens else "") + ".",
        "",
        "| side | wall s | items/s | share of ideal | CPU ms/item | reached server | errors "
        "| wrong labels | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sides = [cold, *bare, warm]
    for s in sides:
        share = f"{s.rate / ideal:.2f}" if s is not warm else "—"
        lines.append(f"| {s.name} | {s.wall_s:.2f} | {s.rate:.0f} | {share} | "
                     f"{1000 * s.cpu_s / s.n:.2f} | {s.reached_server} | {s.errors} | {s.wrong} "
                     f"| {s.note} |")
    if bare:
        openai_side, http_side = bare
        lines += [
            "",
            f"Ratios: harness / bare openai throughput {cold.rate / openai_side.rate:.2f}x, CPU "
            f"per item {cold.cpu_s / openai_side.cpu_s:.2f}x; harness / aiohttp throughput "
            f"{cold.rate / http_side.rate:.2f}x, CPU per item {cold.cpu_s / http_side.cpu_s:.2f}x.",
        ]
    lines += [
        "",
        f"Cached rerun: {warm.n} decisions in {warm.wall_s:.2f} s for the whole process "
        f"({warm.n / warm.wall_s:,.0f} decisions/s end to end, run files included)"
        + (f"; deciding phase {warm.phase_s:.2f} s ({warm.n / warm.phase_s:,.0f} decisions/s)"
           if warm.phase_s else "") + ".",
        "",
        f"Bars: cold run share of ideal {cold.rate / ideal:.2f} (>= 0.85: "
        f"{'met' if cold.rate / ideal >= 0.85 else 'MISSED'}); CPU per item "
        f"{1000 * cold.cpu_s / cold.n:.2f} ms (<= 2: "
        f"{'met' if 1000 * cold.cpu_s / cold.n <= 2 else 'MISSED'}); cached rerun "
        f"{warm.n / warm.wall_s:,.0f} decisions/s end to end (>= 10,000: "
        f"{'met' if warm.n / warm.wall_s >= 10_000 else 'MISSED'}).",
    ]
    print("\n".join(lines))
    bad = (any(s.errors or s.wrong for s in sides) or cold.reached_server != cold.n
           or warm.reached_server != 0 or any(s.reached_server != s.n for s in bare))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
