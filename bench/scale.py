"""Metrics at scale (issue 14, items 4 and 6): `run`, `report` and `route` over synthetic
precomputed decisions, each timed as a subprocess with its peak RSS.

A synthetic golden set (N items, 3 binary policies, 2 slice keys, 5 precomputed scorers of
varying quality) is written to a temporary folder; decisions = items x 5 deciders x policies.
Each command runs as its own ``python -m evalharness`` process; wall time and the child's peak
RSS (``wait4``'s ru_maxrss) are measured per process. ``--base DIR`` runs the same commands with
``PYTHONPATH=DIR`` as well (e.g. the branch's starting commit via ``git archive``), side by side
in the same script run, alternating which goes first.

    .venv/bin/python bench/scale.py                       # 30k decisions, ~2 minutes (5 with --base)
    .venv/bin/python bench/scale.py --decisions 1000000
    .venv/bin/python bench/scale.py --growth              # item 6: 10k/100k/1M x 1/3/10 policies
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
DECIDERS = 5
POLICY_IDS = ["hate_speech", "harassment_abuse", "violence", "sexual", "self_harm", "spam_scam",
              "offensive"]
MARKETS = ["us", "uk", "de", "fr", "br", "in", "jp", "mx"]
SOURCES = ["listing", "review", "message", "profile"]


def _policies(n: int, folder: Path) -> tuple[list[str], Path]:
    """``n`` binary policy ids: the shipped ones first, then copies of hate_speech renamed."""
    pdir = folder / "policies"
    pdir.mkdir(exist_ok=True)
    ids = []
    for i in range(n):
        if i < len(POLICY_IDS):
            pid = POLICY_IDS[i]
            text = (REPO / "policies" / f"{pid}.yaml").read_text(encoding="utf-8")
        else:
            pid = f"synthetic_{i}"
            text = (REPO / "policies" / "hate_speech.yaml").read_text(encoding="utf-8")
            text = text.replace("id: hate_speech", f"id: {pid}", 1)
        (pdir / f"{pid}.yaml").write_text(text, encoding="utf-8")
        ids.append(pid)
    return ids, pdir


def make_case(folder: Path, decisions: int, n_policies: int = 3, seed: int = 0) -> Path:
    """Write a golden set and config with ``decisions`` ~= items x 5 deciders x n_policies;
    returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = max(20, -(-decisions // (DECIDERS * n_policies)))  # at least `decisions`
    ids, pdir = _policies(n_policies, folder)
    prevalence = rng.uniform(0.1, 0.4, size=n_policies)
    gold = rng.random((n, n_policies)) < prevalence
    # each decider: a noisy score around the gold, noise growing with its index
    noise = np.linspace(0.5, 2.0, DECIDERS)
    logits = (gold[None] * 2.0 - 1.0) * 1.5 + rng.normal(size=(DECIDERS, n, n_policies)) * noise[:, None, None]
    scores = np.round(1.0 / (1.0 + np.exp(-logits)), 4)
    missing = rng.random((DECIDERS, n, n_policies)) < 0.002  # a few items without a score
    market = rng.integers(len(MARKETS), size=n)
    source = rng.integers(len(SOURCES), size=n)
    label_names = {}
    for pid in ids:
        text = (pdir / f"{pid}.yaml").read_text(encoding="utf-8")
        pol = yaml.safe_load(text)
        viol = pol["violating"][0]
        other = next(lab["name"] for lab in pol["labels"] if lab["name"] != viol)
        label_names[pid] = (viol, other)
    items = folder / "items.jsonl"
    with open(items, "w", encoding="utf-8") as fh:
        for i in range(n):
            row = {
                "id": f"s{i:07d}",
                "text": f"synthetic item {i}",
                "labels": {pid: label_names[pid][0 if gold[i, p] else 1] for p, pid in enumerate(ids)},
                "meta": {"market": MARKETS[market[i]], "source": SOURCES[source[i]]},
                "scores": {f"d{d}": {pid: float(scores[d, i, p]) for p, pid in enumerate(ids)
                                     if not missing[d, i, p]} for d in range(DECIDERS)},
            }
            fh.write(json.dumps(row) + "\n")
    config = {
        "name": "scale",
        "golden_set": {"path": str(items)},
        "policies": ids,
        "policies_dir": str(pdir),
        "deciders": [{"name": f"d{d}", "kind": "precomputed", "scores": f"d{d}", "threshold": 0.5,
                      "cost_per_decision_usd": 0.0001 * (d + 1)} for d in range(DECIDERS)],
        "slice_by": ["market", "source"],
        "cache": {"enabled": False},
        "routing": {"precision_target": 0.8, "recall_target": 0.7},
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    return path


def run_cmd(args: list[str], pythonpath: str, timeout: float) -> dict:
    """Run ``python -m evalharness ARGS`` with PYTHONPATH=code: wall and CPU seconds, the
    child's own peak RSS (MiB, from os.wait4), exit code and output tails."""
    env = dict(os.environ, PYTHONPATH=pythonpath, LITELLM_LOCAL_MODEL_COST_MAP="True",
               HF_HUB_OFFLINE="1")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "evalharness", *args], env=env,
                                stdout=out, stderr=err, text=True)
        deadline = t0 + timeout
        while True:  # bounded by the timeout
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"wall": wall, "rss": usage.ru_maxrss / 1024, "cpu": usage.ru_utime + usage.ru_stime,
                "rc": proc.returncode, "out": out.read()[-2000:], "err": err.read()[-2000:]}


def measure(config: Path, work: Path, code: str, tag: str, timeout: float) -> dict[str, dict]:
    """Time run, report and route of one config with one code tree."""
    out = work / f"runs-{tag}"
    res = {"run": run_cmd(["run", str(config), "--out", str(out), "--run-id", "r"], code, timeout)}
    run_dir = out / "r"
    res["report"] = run_cmd(["report", str(run_dir)], code, timeout)
    res["route"] = run_cmd(["route", str(run_dir)], code, timeout)
    for name, r in res.items():
        if r["rc"] != 0:
            sys.stderr.write(f"[{tag}] {name} exited {r['rc']}:\n{r['err']}\n")
    return res


def count_decisions(run_dir: Path) -> int:
    with open(run_dir / "decisions.jsonl", "rb") as fh:
        return sum(1 for _ in fh)


def facts() -> str:
    load = os.getloadavg()
    vers = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "pydantic", "pyarrow", "scipy")
                     if _has(p))
    return (f"nproc {os.cpu_count()}, kernel {platform.release()}, Python {platform.python_version()}, "
            f"{vers}; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _has(pkg: str) -> bool:
    try:
        metadata.version(pkg)
        return True
    except metadata.PackageNotFoundError:
        return False


BARS = {"run": "≥ 20,000 decisions/s", "report": "< 30 s and < 1 GB", "route": "< 30 s and < 1 GB"}


def _bar_met(cmd: str, r: dict, n: int) -> str:
    if r["rc"] != 0:
        return f"exit {r['rc']}"
    if cmd == "run":
        return "met" if n / r["wall"] >= 20_000 else "missed"
    return "met" if r["wall"] < 30 and r["rss"] < 1024 else "missed"


def table(results: dict[str, dict[str, dict]], n: int) -> list[str]:
    lines = [f"Decisions: {n:,}", "",
             "| command | code | wall s | CPU s | peak RSS MiB | decisions/s | bar | at 1M? |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for cmd in ("run", "report", "route"):
        for tag, res in results.items():
            r = res[cmd]
            bar = _bar_met(cmd, r, n) if n >= 1_000_000 else "(size < 1M)"
            lines.append(f"| {cmd} | {tag} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} | "
                         f"{n / r['wall']:,.0f} | {BARS[cmd]} | {bar} |")
    if "base" in results and "branch" in results:
        lines += ["", "| command | base / branch wall | base / branch RSS |", "|---|---:|---:|"]
        for cmd in ("run", "report", "route"):
            b, h = results["base"][cmd], results["branch"][cmd]
            lines.append(f"| {cmd} | {b['wall'] / h['wall']:.1f}× | {b['rss'] / h['rss']:.1f}× |")
    return lines


def growth(work: Path, timeout: float, sizes: list[int], policies: list[int]) -> list[str]:
    """Item 6: time and memory at several sizes and policy counts, with a log-log fit."""
    rows = []
    for n_pol in policies:
        for size in sizes:
            config = make_case(work / f"g{n_pol}-{size}", size, n_pol)
            res = measure(config, work / f"g{n_pol}-{size}", str(REPO), "branch", timeout)
            n = count_decisions(work / f"g{n_pol}-{size}" / "runs-branch" / "r")
            rows.append((n_pol, n, res))
    lines = ["| policies | decisions | run s | run MiB | report s | report MiB | route s | route MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n_pol, n, res in rows:
        lines.append(f"| {n_pol} | {n:,} | " + " | ".join(
            f"{res[c]['wall']:.2f} | {res[c]['rss']:.0f}" for c in ("run", "report", "route")) + " |")
    lines += ["", "Fitted growth, time ≈ a·n^b and peak RSS ≈ c·n^d (n = decisions; least squares "
              "on log-log over every row):", "",
              "| command | b (time exponent) | time at 1M, s (fit) | d (RSS exponent) | RSS at 1M, MiB (fit) |",
              "|---|---:|---:|---:|---:|"]
    ns = np.log([n for _, n, _ in rows])
    for c in ("run", "report", "route"):
        t = np.log([res[c]["wall"] for *_, res in rows])
        m = np.log([res[c]["rss"] for *_, res in rows])
        bt, at = np.polyfit(ns, t, 1)
        bm, am = np.polyfit(ns, m, 1)
        lines.append(f"| {c} | {bt:.2f} | {np.exp(at + bt * np.log(1e6)):.1f} | {bm:.2f} | "
                     f"{np.exp(am + bm * np.log(1e6)):.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=30_000,
                    help="decisions = items x 5 deciders x 3 policies (default 30,000: about 2 minutes, 5 with --base)")
    ap.add_argument("--base", help="a code tree (e.g. the branch's base via git archive) to "
                                   "measure side by side, as PYTHONPATH")
    ap.add_argument("--growth", action="store_true", help="item 6: sizes x policy counts")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--policies", type=int, nargs="+", default=[1, 3, 10])
    ap.add_argument("--timeout", type=float, default=900, help="per command, seconds")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one)")
    args = ap.parse_args(argv)
    print(f"# bench/scale.py — {time.strftime('%Y-%m-%d %H:%M')}\n\nBefore: {facts()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        failed = False
        if args.growth:
            lines = growth(work, args.timeout, args.sizes, args.policies)
        else:
            config = make_case(work / "case", args.decisions)
            results: dict[str, dict[str, dict]] = {}
            trees = [("branch", str(REPO))] + ([("base", args.base)] if args.base else [])
            for tag, code in trees:
                results[tag] = measure(config, work / "case", code, tag, args.timeout)
            n = count_decisions(work / "case" / "runs-branch" / "r")
            lines = table(results, n)
            failed = any(r["rc"] != 0 for res in results.values() for r in res.values())
        print("\n".join(lines))
        print(f"\nAfter: {facts()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
