"""``kind: ensemble``: votes over real members' decisions of the same run, checked item by item.

Members are two TF-IDF models with different features trained on the mini training set, two
production classifiers' scores from the golden set, and chat models served by the stub
OpenAI-compatible server on 127.0.0.1. Every ensemble row is recomputed here from its members'
rows read back from ``decisions.jsonl``, with the rules written out again (not the module's).
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalharness import run_eval
from evalharness.api import estimate
from evalharness.api.routing import recommend_tiers
from evalharness.deciders.ensemble import tally
from evalharness.inputs.policies import Policy
from evalharness.testing.stub_server import StubServer

from conftest import MINI, REPO, read_jsonl

PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5}
NO_SCORE = "m06"
"""The item neither production classifier scored: those members error on it."""
FAULTY = "m13"
"""The item whose first model call fails (the stub's FAULT500): ``stub`` makes one attempt, so
it fails until ``--resume`` retries it; ``stubb`` (another prompt) retries at once."""

ENSEMBLES: dict[str, dict[str, Any]] = {
    "maj2": {"members": ["word", "prod"], "vote": "majority"},
    "maj3": {"members": ["word", "char", "stub"], "vote": "majority"},
    "any3": {"members": ["word", "prod", "stub"], "vote": "any"},
    "all3": {"members": ["word", "prod", "stub"], "vote": "all"},
    "wt": {"members": ["word", "char", "prod"], "vote": "weighted",
           "weights": {"word": 1.5, "prod": 0.5}},
    "tiehate": {"members": ["word", "prod"], "vote": "majority", "tie": "hate"},
    "errs": {"members": ["prod", "alt"], "vote": "majority"},
    "llms": {"members": ["stub", "stubb"], "vote": "majority"},
    "nested": {"members": ["maj3", "any3"], "vote": "majority"},
}


def _golden(folder: Path) -> Path:
    """The mini items with two production classifiers' scores, and one item for the fault."""
    rng = random.Random(5)
    rows = [json.loads(line) for line in (MINI / "items.jsonl").read_text().splitlines()]
    rows.append({"id": FAULTY, "text": "FAULT500 that kind are vermin, stupid and dirty",
                 "labels": {"hate_speech": "hate"}, "meta": {"target": ["none"]}})
    for row in rows:
        if row["id"] != NO_SCORE:
            row["scores"] = {"prod": {"hate_speech": round(rng.random(), 3)},
                             "alt": {"hate_speech": round(rng.random(), 3)}}
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(folder: Path, url: str, ensembles: dict[str, dict[str, Any]] = ENSEMBLES) -> dict:
    train = {"path": str(MINI / "train.jsonl")}
    llm = {"kind": "llm", "model": "openai/stub", "api_base": url, "price": PRICE,
           "structured_output": "json_schema", "concurrency": 2, "max_attempts": 1, "timeout_s": 5}
    return {
        "name": "ensemble",
        "golden_set": {"path": str(_golden(folder))},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [
            {"name": "word", "kind": "classic", "features": "word", "train": train},
            {"name": "char", "kind": "classic", "features": "char", "train": train},
            {"name": "prod", "kind": "precomputed", "scores": "prod", "cost_per_decision_usd": 0.001},
            {"name": "alt", "kind": "precomputed", "scores": "alt", "cost_per_decision_usd": 0.002},
            {"name": "stub", **llm},
            {"name": "stubb", **llm, "structured_output": "text", "max_attempts": 3},
            *({"name": name, "kind": "ensemble", **spec} for name, spec in ensembles.items()),
        ],
        "max_error_rate": None,
        "cache": {"dir": str(folder / "cache")},
    }


def _expected(spec: dict[str, Any], found: dict[str, dict]) -> tuple[str, str | None, dict]:
    """(outcome, label, shares) of a binary hate/none vote, from the members' rows."""
    members = spec["members"]
    weights = spec.get("weights", {}) if spec["vote"] == "weighted" else {}
    votes = {m: found[m]["label"] for m in members if found[m]["outcome"] == "ok"}
    if not votes:
        return "error", None, {}
    mass = {"hate": 0.0, "none": 0.0}
    for member, label in votes.items():
        mass[label] += weights.get(member, 1.0)
    shares = {k: v / sum(mass.values()) for k, v in mass.items()}
    if spec["vote"] == "any":
        return "ok", "hate" if mass["hate"] > 0 else "none", shares
    if spec["vote"] == "all":
        every = len(votes) == len(members) and set(votes.values()) == {"hate"}
        return "ok", "hate" if every else "none", shares
    if math.isclose(mass["hate"], mass["none"]):
        tie = spec.get("tie", "escalate")
        return ("invalid", None, shares) if tie == "escalate" else ("ok", tie, shares)
    return "ok", max(mass, key=mass.__getitem__), shares


def _check_file(path: Path, ensembles: dict[str, dict[str, Any]] = ENSEMBLES) -> Counter[str]:
    """Every ensemble row agrees with its members' rows; returns how each was decided."""
    rows = read_jsonl(path)
    keys = [(r["item_id"], r["policy"], r["decider"]) for r in rows]
    assert len(keys) == len(set(keys)), "a row was written twice"
    by_key = {k: r for k, r in zip(keys, rows)}
    items = sorted({r["item_id"] for r in rows})
    seen: Counter[str] = Counter()
    for name, spec in ensembles.items():
        for item in items:
            row = by_key[(item, "hate_speech", name)]
            found = {m: by_key[(item, "hate_speech", m)] for m in spec["members"]}
            outcome, label, shares = _expected(spec, found)
            assert (row["outcome"], row["label"]) == (outcome, label), (name, item, found)
            assert row["decider_kind"] == "ensemble" and row["usage"] is None
            assert row["cost_usd"] == pytest.approx(sum(f["cost_usd"] for f in found.values()))
            latencies = [f["latency_s"] for f in found.values() if f["latency_s"] is not None]
            assert row["latency_s"] == (pytest.approx(max(latencies)) if latencies else None)
            assert row["cached"] == all(f["cached"] for f in found.values())
            if outcome == "ok":
                assert row["scores"] == pytest.approx(shares)
                assert row["confidence"] == pytest.approx(shares[label])
                assert row["confidence_source"] == "votes"
            elif outcome == "invalid":
                assert row["raw"].startswith("tie: ") and row["scores"] == pytest.approx(shares)
            else:
                assert all(f"{m}={found[m]['outcome']}" in row["error"] for m in found)
            seen[f"{name}:{outcome}:{label}"] += 1
    return seen


@pytest.fixture
def stub():
    with StubServer(fault_times=1) as server:
        yield server


def test_votes_match_members_item_by_item_and_resume_recomputes_stale(stub, write_config,
                                                                      tmp_path):
    path = write_config(_config(tmp_path, stub.url))
    out = tmp_path / "results"
    result = run_eval(path, out_dir=out, run_id="r1", live_progress=False)
    assert result.exit_code == 0
    file = result.run_dir / "decisions.jsonl"
    seen = _check_file(file)
    rows = {(r["item_id"], r["decider"]): r for r in read_jsonl(file)}
    # the cases the rules are about all happened on these items
    assert seen["maj2:invalid:None"] > 0 and seen["tiehate:ok:hate"] > 0, seen
    for item in {i for i, _ in rows}:  # tie: hate changes exactly the ties
        maj2, tiehate = rows[(item, "maj2")], rows[(item, "tiehate")]
        assert tiehate["label"] == ("hate" if maj2["outcome"] == "invalid" else maj2["label"])
    assert seen["any3:ok:hate"] > seen["all3:ok:hate"] > 0, seen
    assert seen["wt:invalid:None"] > 0, "word (1.5) against char (1) + prod (0.5) ties"
    assert seen["errs:error:None"] == 1 and rows[(NO_SCORE, "errs")]["outcome"] == "error"
    assert rows[(NO_SCORE, "maj2")]["confidence"] == 1.0, "prod casts no vote on m06"
    assert rows[(FAULTY, "stub")]["outcome"] == "error", "one attempt, and the first one fails"
    assert rows[(FAULTY, "stubb")]["outcome"] == "ok", "its own prompt: a retry in the same run"
    # ensembles come after all their members in the file; nested after its member ensembles
    order = [r["decider"] for r in read_jsonl(file)]
    assert min(order.index(e) for e in ENSEMBLES) > max(
        len(order) - 1 - order[::-1].index(m) for m in ("word", "char", "prod", "alt", "stub", "stubb"))
    assert order.index("nested") > max(len(order) - 1 - order[::-1].index(m) for m in ("maj3", "any3"))

    # resume: the model's error is retried (now ok), and every ensemble that read it is recomputed
    resumed = run_eval(path, out_dir=out, run_id="r1", resume=True, live_progress=False)
    _check_file(resumed.run_dir / "decisions.jsonl")
    after = {(r["item_id"], r["decider"]): r for r in read_jsonl(file)}
    assert all(after[(FAULTY, m)]["outcome"] == "ok" for m in ("stub", "stubb"))
    order = [(r["item_id"], r["decider"]) for r in read_jsonl(file)]
    retried = order.index((FAULTY, "stub"))
    for name in ("maj3", "any3", "all3", "nested"):  # recomputed after the retry, at its cost
        assert order.index((FAULTY, name)) > retried
        assert after[(FAULTY, name)]["cost_usd"] > rows[(FAULTY, name)]["cost_usd"]
    assert len(after) == 13 * (6 + len(ENSEMBLES))

    # a second run from the cache: an ensemble is cached when all its members were
    again = run_eval(path, out_dir=out, run_id="r2", live_progress=False)
    second = {(r["item_id"], r["decider"]): r for r in read_jsonl(again.run_dir / "decisions.jsonl")}
    assert all(second[(i, "llms")]["cached"] for i, _ in second)
    assert not any(second[(i, "maj3")]["cached"] for i, _ in second)
    _check_file(again.run_dir / "decisions.jsonl")

    # metrics and the dry run treat the ensemble as a machine tier costing its members' sum
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    cost = {r["decider"]: r["cost_per_decision_usd"] for r in metrics["results"] if r["slice"] is None}
    assert cost["errs"] == pytest.approx(cost["prod"] + cost["alt"]) == pytest.approx(12 * 0.003 / 13)
    assert cost["any3"] == pytest.approx(cost["word"] + cost["prod"] + cost["stub"])
    dry = {r.decider: r for r in estimate(path, use_cache=False).rows}
    assert dry["errs"].calls == 0 and dry["stub"].calls == 13
    assert dry["prod"].cost_usd > 0 and dry["alt"].cost_usd > 0
    assert dry["errs"].cost_usd == pytest.approx(dry["prod"].cost_usd + dry["alt"].cost_usd)
    plan = recommend_tiers(result.run_dir, write=False)
    tiers = {(t.decider, t.kind) for t in plan.policies[0].thresholds}
    assert {(name, "ensemble") for name in ENSEMBLES} <= tiers, "machine tiers with thresholds"


def test_sigkill_then_resume_gives_one_row_per_key(write_config, tmp_path):
    ensembles = {k: ENSEMBLES[k] for k in ("maj3", "any3", "nested")}
    with StubServer(latency_s=0.15) as server:
        config = _config(tmp_path, server.url, ensembles)
        for decider in config["deciders"]:
            decider.pop("max_attempts", None)
            if decider["kind"] == "llm":
                decider["concurrency"] = 1
        path = write_config(config)
        out = tmp_path / "results"
        file = out / "k" / "decisions.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "evalharness", "run", str(path), "--out", str(out),
             "--run-id", "k", "--no-cache"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if file.exists() and sum(r["decider"] == "stub" for r in read_jsonl(file)) >= 2:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        killed = read_jsonl(file)
        assert not any(r["decider"] in ensembles for r in killed), "ensembles wait for members"
        assert 2 <= sum(r["decider"] == "stub" for r in killed) < 13
        resumed = run_eval(path, out_dir=out, run_id="k", resume=True, use_cache=False,
                           live_progress=False)
    rows = read_jsonl(resumed.run_dir / "decisions.jsonl")
    assert rows[: len(killed)] == killed
    assert len(rows) == 13 * (6 + len(ensembles))
    _check_file(resumed.run_dir / "decisions.jsonl", ensembles)


def _one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("spec, message, field", [
    ({"members": ["word", "nope"]}, "member 'nope' is not a decider", "members"),
    ({"members": ["word", "bad"]}, "lists itself", "members"),
    ({"members": ["word", "raters"]}, "member raters is a human decider", "members"),
    ({"members": ["word", "other"]}, "members form a cycle: other -> bad -> other", "members"),
    ({"members": ["word", "char"], "policies": None}, "member word does not decide ['offensive']",
     "members"),
    ({"members": ["word"]}, "at least 2 items", "members"),
    ({"members": ["word", "char"], "vote": "weighted", "weights": {"prod": 2}},
     "weights for ['prod'], which are not members", "weights"),
    ({"members": ["word", "char"], "weights": {"word": 2}}, "vote: weighted only", "weights"),
    ({"members": ["word", "char"], "tie": "maybe"}, "tie label 'maybe' is not a label", "tie"),
])
def test_bad_members_are_one_line_naming_the_config_line(spec, message, field, write_config,
                                                         cli_run, tmp_path):
    golden = _golden(tmp_path)
    rows = [json.loads(line) for line in golden.read_text().splitlines()]
    for row in rows:  # a second policy, so an ensemble can decide one its member does not
        row["labels"]["offensive"] = row["labels"]["hate_speech"].replace("hate", "offensive")
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = {"path": str(MINI / "train.jsonl")}
    only = {"policies": ["hate_speech"]}
    bad = {"name": "bad", "kind": "ensemble", **only, **spec}
    deciders = [
        {"name": "word", "kind": "classic", "features": "word", "train": train, **only},
        {"name": "char", "kind": "classic", "features": "char", "train": train, **only},
        {"name": "raters", "kind": "human", "cost_per_hour_usd": 14.0, "seconds_per_item": 30,
         **only},
        {"name": "other", "kind": "ensemble", **only,
         "members": ["word", "bad" if "other" in spec["members"] else "char"]},
        {k: v for k, v in bad.items() if v is not None},
    ]
    path = write_config({"name": "bad", "golden_set": {"path": str(golden)},
                         "policies": ["hate_speech", "offensive"],
                         "policies_dir": str(REPO / "policies"), "deciders": deciders})
    line = _one_error(cli_run("validate", path))
    assert message in line, line
    text = path.read_text().splitlines()
    entry = 3 if "cycle" in message else 4  # a cycle is found at its first ensemble
    start = next(i for i, t in enumerate(text, 1) if t.strip() == f"- name: {deciders[entry]['name']}")
    assert f"{path}:" in line and f"deciders.{entry}.{field}" in line, line
    number = int(line.split(f"{path}:")[1].split(":")[0])
    following = [i for i, t in enumerate(text, 1) if t.startswith("- name:") and i > start]
    assert start <= number < (following[0] if following else len(text) + 1), (line, start)


def _policy(labels: list[str], violating: list[str]) -> Policy:
    return Policy(id="p", version="1", owner="o", description="d", violating=violating,
                  labels=[{"name": n} for n in labels], prompt={"system": "s", "user": "{text}"})


THREE = _policy(["threat", "slur", "none"], ["threat", "slur"])


@pytest.mark.parametrize("votes, vote, tie, label, shares", [
    # any: the most voted violating label, even against a majority for none
    ({"a": "none", "b": "slur", "c": "none"}, "any", "escalate", "slur", (0, 1 / 3, 2 / 3)),
    ({"a": "threat", "b": "slur", "c": "slur"}, "any", "escalate", "slur", (1 / 3, 2 / 3, 0)),
    ({"a": "threat", "b": "slur", "c": "none"}, "any", "escalate", None, (1 / 3, 1 / 3, 1 / 3)),
    ({"a": "threat", "b": "slur", "c": "none"}, "any", "slur", "slur", (1 / 3, 1 / 3, 1 / 3)),
    # all: violating only when every member voted a violating label; a missing vote is not-all
    ({"a": "threat", "b": "slur", "c": "slur"}, "all", "escalate", "slur", (1 / 3, 2 / 3, 0)),
    ({"a": "threat", "b": "slur"}, "all", "escalate", "none", (0.5, 0.5, 0)),
    ({"a": "threat", "b": "threat", "c": "none"}, "all", "escalate", "none", (2 / 3, 0, 1 / 3)),
    # majority: a plurality; a tie escalates unless the tie label is one of the tied labels
    ({"a": "threat", "b": "threat", "c": "none"}, "majority", "escalate", "threat", (2 / 3, 0, 1 / 3)),
    ({"a": "threat", "b": "none"}, "majority", "escalate", None, (0.5, 0, 0.5)),
    ({"a": "threat", "b": "slur"}, "majority", "none", None, (0.5, 0.5, 0)),
    ({"a": "threat", "b": "none"}, "majority", "none", "none", (0.5, 0, 0.5)),
])
def test_vote_rules_on_a_policy_with_two_violating_labels(votes, vote, tie, label, shares):
    result = tally(votes, THREE, vote=vote, members=["a", "b", "c"], tie=tie)
    assert result.label == label
    assert [result.shares[n] for n in THREE.label_names] == pytest.approx(list(shares))
