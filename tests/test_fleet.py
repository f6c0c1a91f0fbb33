"""A fleet (``api_bases``): work spread over three loopback replicas, one of which dies mid-run.
Every item is still decided, the dead replica takes nothing after it died, each decision records
the replica that answered, and the manifest counts each replica's answers and failures."""

from __future__ import annotations

import threading
import time

from evalharness import run_eval
from evalharness.testing.stub_server import StubServer

from conftest import REPO, read_jsonl


def _golden(tmp_path, n: int):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(
        f'{{"id": "f{i}", "text": "{"I hate them" if i % 3 == 0 else "a calm note"} {i}", '
        f'"labels": {{"hate_speech": "{"hate" if i % 3 == 0 else "none"}"}}}}\n'
        for i in range(n)))
    return path


def test_a_fleet_spreads_work_and_survives_a_replica_that_dies(tmp_path, write_config):
    with StubServer(latency_s=0.05) as a, StubServer(latency_s=0.05) as b, \
            StubServer(latency_s=0.05) as c:
        config = {"name": "fleet", "golden_set": {"path": str(_golden(tmp_path, 90))},
                  "policies": ["hate_speech"], "policies_dir": str(REPO / "policies"),
                  "deciders": [{"name": "vllm", "kind": "llm", "model": "openai/stub",
                                "api_bases": [a.url, b.url, c.url], "concurrency": 2,
                                "price": {"input_per_mtok": 0.0, "output_per_mtok": 0.0}}]}
        died = threading.Event()
        answered_b: list[int] = []

        def kill_b() -> None:  # bounded: gives up after 30 s
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and b.stats()["completions"] < 10:
                time.sleep(0.01)
            b.stop()
            answered_b.append(b.stats()["ok"])
            died.set()

        killer = threading.Thread(target=kill_b, daemon=True)
        killer.start()
        result = run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)
        killer.join(timeout=35)
        served = {s.url: s.stats()["ok"] for s in (a, c)}
    assert died.is_set()
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    assert len(rows) == 90 and all(r["outcome"] == "ok" for r in rows)
    by_endpoint = {}
    for r in rows:
        by_endpoint[r["endpoint"]] = by_endpoint.get(r["endpoint"], 0) + 1
    assert set(by_endpoint) == {a.url, b.url, c.url}
    # b's decisions are exactly the calls it answered before it died; its in-flight ones moved
    assert by_endpoint[b.url] == answered_b[0] >= 5
    assert by_endpoint[a.url] == served[a.url] and by_endpoint[c.url] == served[c.url]
    fleet = result.manifest.deciders[0]["fleet"]
    assert fleet[b.url]["answered"] == by_endpoint[b.url] and fleet[b.url]["failures"] >= 1
    assert sum(v["answered"] for v in fleet.values()) == 90


def test_a_fleet_is_checked_when_the_config_is_read(tmp_path, write_config, cli_run):
    base = {"name": "fleet", "golden_set": {"path": str(_golden(tmp_path, 3))},
            "policies": ["hate_speech"], "policies_dir": str(REPO / "policies")}
    for extra, needle in (({"api_bases": ["http://127.0.0.1:9/v1"] * 2}, "listed once"),
                          ({"api_bases": ["http://127.0.0.1:9/v1"],
                            "api_base": "http://127.0.0.1:8/v1"}, "not both")):
        config = {**base, "deciders": [{"name": "x", "kind": "llm", "model": "openai/stub",
                                        "price": {"input_per_mtok": 0, "output_per_mtok": 0},
                                        **extra}]}
        result = cli_run("validate", write_config(config))
        assert result.exit_code == 2 and needle in result.stderr, result.stderr
