"""``run --shard K/N`` and ``merge``: shards decide disjoint shares of the items by hashed id;
the merged run's metrics.json, routing plan and report equal those of the unsharded run exactly;
shards that do not belong together are refused with one line."""

from __future__ import annotations

import json

import numpy as np
import yaml

from evalharness import recommend_tiers, run_eval
from evalharness.execution.workplan import shard_of

from conftest import REPO, read_jsonl


def _config(tmp_path, threshold: float = 0.5) -> dict:
    rng = np.random.default_rng(8)
    rows = []
    for i in range(360):
        gold = "hate" if rng.random() < 0.3 else "none"
        good = float(rng.beta(6, 2) if gold == "hate" else rng.beta(2, 6))
        fair = float(rng.beta(3, 2) if gold == "hate" else rng.beta(2, 3))
        raters = [{"rater": r, "site": site, "seconds": 20.0 + i % 7,
                   "labels": {"hate_speech": gold if rng.random() < 0.9 else
                              ("none" if gold == "hate" else "hate")}}
                  for r, site in (("r1", "north"), ("r2", "south"), ("r3", "south"))]
        rows.append({"id": f"i{i}", "text": f"item {i}", "labels": {"hate_speech": gold},
                     "annotations": raters, "gold_from_raters": False,
                     "meta": {"market": ["US", "BR", "IN"][i % 3]},
                     "scores": {"good": {"hate_speech": good}, "fair": {"hate_speech": fair}}})
    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"name": "sharded", "golden_set": {"path": str(golden)}, "policies": ["hate_speech"],
            "policies_dir": str(REPO / "policies"), "slice_by": ["market"],
            "deciders": [{"name": "good", "kind": "precomputed", "scores": "good",
                          "threshold": threshold},
                         {"name": "fair", "kind": "precomputed", "scores": "fair"},
                         {"name": "bpo", "kind": "human", "cost_per_hour_usd": 12.0}]}


def _plain(path, drop=("run_id", "run_dir", "created_at")):
    text = path.read_text()
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    for key in drop:
        doc.pop(key, None)
    return doc


def test_merged_shards_equal_the_unsharded_run(tmp_path, write_config, cli_run):
    config = write_config(_config(tmp_path))
    whole = run_eval(config, out_dir=tmp_path / "runs", run_id="whole", live_progress=False)
    shards = []
    for k in (1, 2, 3):
        result = cli_run("run", config, "--shard", f"{k}/3", "--out", tmp_path / "runs")
        assert result.exit_code == 0, result.stderr
        shards.append(result.stdout.strip().splitlines()[-1])
    ids = [{r["item_id"] for r in read_jsonl(tmp_path / s / "decisions.jsonl")} for s in shards]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and sum(map(len, ids)) == 360
    assert all(shard_of(i, 3) == k for k, share in enumerate(ids, 1) for i in share)
    merged = cli_run("merge", *reversed(shards), "--out", tmp_path / "runs", "--run-id", "merged")
    assert merged.exit_code == 0, merged.stderr
    a, b = whole.run_dir, tmp_path / "runs" / "merged"
    assert _plain(b / "metrics.json") == _plain(a / "metrics.json")
    for run in (a, b):
        recommend_tiers(run, precision_target=0.7, recall_target=0.6)
    assert _plain(b / "routing.yaml") == _plain(a / "routing.yaml")

    def body(run):
        return [line.replace(run.name, "RUN") for line in
                (run / "report.md").read_text().splitlines()[3:]]

    assert body(b) == body(a)
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["merged_from"] == [s.split("/")[-1] for s in shards]
    assert manifest["golden_set"]["n_items"] == 360


def test_shards_that_do_not_belong_together_are_refused(tmp_path, write_config, cli_run):
    config = write_config(_config(tmp_path))
    other = write_config(_config(tmp_path, threshold=0.6), "other.yaml")
    runs = {}
    for name, path, k in (("a1", config, 1), ("a2", config, 2), ("b2", other, 2)):
        run_eval(path, out_dir=tmp_path / "runs", run_id=name, shard=(k, 2), live_progress=False)
        runs[name] = tmp_path / "runs" / name
    plain = run_eval(config, out_dir=tmp_path / "runs", run_id="plain", live_progress=False)
    for given, needle in (((runs["a1"], runs["b2"]), "differs from a1 in config"),
                          ((runs["a1"],), "shards missing: [2] of 2"),
                          ((runs["a1"], runs["a1"]), "given twice: [1]"),
                          ((runs["a1"], plain.run_dir), "not a shard")):
        result = cli_run("merge", *given, "--out", tmp_path / "merged")
        assert result.exit_code == 2, (needle, result.stdout)
        assert "Traceback" not in result.stderr and needle in result.stderr, result.stderr
    bad = cli_run("run", config, "--shard", "3/2")
    assert bad.exit_code == 2 and "--shard" in bad.stderr
