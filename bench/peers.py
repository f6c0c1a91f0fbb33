"""evalharness against its peers: the same items, prompt and server through ``evalharness run``,
inspect_ai (``inspect eval``) and promptfoo (``promptfoo eval``), each as a whole process.

Starts the stub server (``python -m evalharness.testing.stub_server``) as its own process on
127.0.0.1 with a fixed latency; then, for several rounds, runs each tool over N items at a fixed
concurrency, rotating which goes first. Measures per tool and round: wall time of the whole
process (start-up and writing its results included), throughput as a share of the ideal
(concurrency / latency), CPU per item of the tool's process tree (``RUSAGE_CHILDREN`` deltas around
the wait), the requests the server saw (``/stats``: must equal the items, all answered 200, each
user message the one expected) and how many items the tool graded right. Prints markdown; see
README.md. Peers live outside the project's venv (``bench/setup_peers.sh``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers_tools  # noqa: E402
from peers_tools import BENCH, REPO, SETUP_HINT, TOOLS, environment, items, prompt  # noqa: E402

sys.path.insert(0, str(REPO))
from evalharness.testing.stub_process import StubProcess  # noqa: E402


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_one(name: str, server: StubProcess, root: Path, rnd: int, s: dict,
            timeout_s: float) -> dict:
    tool = TOOLS[name]
    work = root / f"{name}-{rnd}"
    work.mkdir(parents=True)
    argv, extra = tool.prepare(work, server.url, s)
    server.reset()
    cpu0, t0 = _cpu_children(), time.perf_counter()
    with open(work / "stdout.txt", "wb") as out, open(work / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(argv, cwd=work, env=environment(extra), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = "timeout"
        finally:  # the tool, or anything it left running in its process group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    stats = server.stats()
    n = len(s["items"])
    want = Counter(s["user"](r["text"]).strip() for r in s["items"])
    same_prompt = Counter(t.strip() for t in stats["texts"]) == want
    right, note = tool.check(work, n) if code == 0 else (0, "")
    if code != 0:
        tail = (work / "stderr.txt").read_text(errors="replace").strip().splitlines()[-3:]
        note = f"exit {code}: {' | '.join(tail)[:300]}"
    return {"round": rnd, "tool": name, "wall": wall, "cpu": cpu, "code": code,
            "requests": stats["completions"], "ok": stats["by_status"].get("200", 0),
            "same_prompt": same_prompt, "right": right, "note": note,
            "share": n / wall / (s["concurrency"] / s["latency"]), "cpu_ms": 1000 * cpu / n}


def _good(r: dict, n: int) -> bool:
    return (r["code"] == 0 and r["requests"] == n and r["ok"] == n and r["same_prompt"]
            and r["right"] == n)


def report(rows: list[dict], names: list[str], s: dict, head: dict) -> bool:
    n = len(s["items"])
    ideal = s["concurrency"] / s["latency"]
    print(f"## peers.py — {head['date']}\n")
    print(f"{n} items x {s['rounds']} rounds, concurrency {s['concurrency']}, latency "
          f"{s['latency'] * 1000:.0f} ms (ideal {ideal:.0f} items/s), order rotated per round; "
          f"whole processes, CPU = process tree user+sys.\n")
    print(f"Machine: {head['nproc']} cores, {platform.machine()}, Linux {platform.release()}, "
          f"Python {platform.python_version()}; load average {head['load0']} before, "
          f"{head['load1']} after.\n")
    for v in head["versions"]:
        print(f"- {v}")
    print("\n| tool | share of ideal | items/s | CPU ms/item | wall s | rounds all good |")
    print("|---|---|---|---|---|---|")
    med = {}
    for name in names:
        mine = [r for r in rows if r["tool"] == name]
        med[name] = {k: statistics.median(r[k] for r in mine) for k in ("share", "cpu_ms", "wall")}
        good = sum(_good(r, n) for r in mine)
        m = med[name]
        print(f"| {name} | {m['share']:.2f} | {m['share'] * ideal:.0f} | {m['cpu_ms']:.2f} | "
              f"{m['wall']:.2f} | {good}/{len(mine)} |")
    ok = all(_good(r, n) for r in rows)
    if "evalharness" in med:
        e = med["evalharness"]
        print()
        for peer, (tput_bar, cpu_bar) in (("inspect_ai", (3.0, 5.0)), ("promptfoo", (1.0, 1.0))):
            if peer not in med:
                print(f"- {peer}: not run")
                continue
            p = med[peer]
            t, c = e["share"] / p["share"], p["cpu_ms"] / e["cpu_ms"]
            met = "meets" if t >= tput_bar and c >= cpu_bar else "MISSES"
            cmp_ = "ahead on both" if tput_bar == 1.0 else f">= {tput_bar:.0f}x, <= 1/{cpu_bar:.0f}"
            pairs = [(a, b) for a in rows for b in rows if a["round"] == b["round"]
                     and a["tool"] == "evalharness" and b["tool"] == peer]
            each = ", ".join(f"{a['share'] / b['share']:.2f}x at 1/{b['cpu_ms'] / a['cpu_ms']:.1f}"
                             for a, b in pairs)
            print(f"- evalharness vs {peer}: throughput **{t:.2f}x**, CPU per item **1/{c:.1f}** "
                  f"(bar: {cmp_}) — {met} the bar; per round: {each}")
    print("\n| round | tool | wall s | share of ideal | CPU ms/item | exit | requests | 200s | "
          "same prompt | graded right | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['round']} | {r['tool']} | {r['wall']:.2f} | {r['share']:.2f} | "
              f"{r['cpu_ms']:.2f} | {r['code']} | {r['requests']} | {r['ok']} | "
              f"{'yes' if r['same_prompt'] else 'NO'} | {r['right']} | {r['note']} |")
    if not ok:
        print(f"\nNot every round was good: each must exit 0, make exactly {n} requests, all "
              "answered 200, with the expected user messages, and grade every item right.")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=2000, help="items per tool and round (2000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency", type=float, default=0.2, metavar="S")
    p.add_argument("--tools", default="evalharness,inspect_ai,promptfoo")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out peers that are not installed (with a note) instead of failing")
    p.add_argument("--setup", action="store_true", help="install the peers (bench/setup_peers.sh)")
    p.add_argument("--peers-dir", type=Path, default=BENCH,
                   help="folder holding .venv-peers and node_modules (default bench/)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    a = p.parse_args(argv)
    if a.setup:
        return subprocess.call(["bash", str(BENCH / "setup_peers.sh")])
    peers_tools.set_peers_dir(a.peers_dir)
    names = [t for t in a.tools.split(",") if t]
    unknown = [t for t in names if t not in TOOLS]
    if unknown or a.items < 1 or a.rounds < 1:
        p.error(f"unknown tool {unknown}" if unknown else "--items and --rounds must be >= 1")
    for name in list(names):
        missing = TOOLS[name].installed()
        if missing:
            if not a.skip_missing:
                print(f"peers.py: {name} is not installed: {missing}; {SETUP_HINT}",
                      file=sys.stderr)
                return 2
            print(f"peers.py: skipping {name}: not installed ({missing}); {SETUP_HINT}")
            names.remove(name)
    system, user = prompt()
    s = {"items": items(a.items), "prompt": (system, user), "concurrency": a.concurrency,
         "latency": a.latency, "rounds": a.rounds, "user": lambda t: user.replace("{text}", t)}
    head = {"date": datetime.date.today().isoformat(), "nproc": os.cpu_count(),
            "load0": _load(), "versions": [TOOLS[n].version() for n in names]}
    timeout_s = max(180.0, 40 * a.items / (a.concurrency / a.latency))
    # SIGTERM runs the finally blocks: the tool's process group and the server are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="peers-"))
    rows = []
    try:
        with StubProcess("--latency", str(a.latency), "--fault-times", "0") as server:
            for rnd in range(1, a.rounds + 1):
                k = (rnd - 1) % len(names)
                for name in names[k:] + names[:k]:
                    rows.append(run_one(name, server, root, rnd, s, timeout_s))
                    print(f"round {rnd} {name}: {rows[-1]['wall']:.1f} s", file=sys.stderr)
    finally:
        if a.keep:
            print(f"work folder: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    head["load1"] = _load()
    return 0 if report(rows, names, s, head) else 1


if __name__ == "__main__":
    sys.exit(main())
