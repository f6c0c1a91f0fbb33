"""Every kind of failed call, through ``run_eval`` with a real ``kind: llm`` decider against the
fault-injecting stub server on 127.0.0.1.

One kind at a time: a fault that clears within ``max_attempts`` is recovered; one that does not
ends as an ``error`` whose message names the kind. Then 1,000 items at a seeded 20% fault rate
drawn from every kind: each item ends with exactly one decision, retries stay within
``max_attempts`` (counted by the server), the ``error`` rows are exactly the items whose faults
outlast ``max_attempts``, and a resume asks again for those only (errors are never cached).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.execution.rundir import RunDir
from evalharness.testing import RANDOM_KINDS, StubProcess, StubServer

from conftest import REPO, read_jsonl

pytestmark = pytest.mark.timeout(120)

PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5}
MAX_ATTEMPTS = 3

# what an unrecovered fault's error message says, per kind
EXPECTED_MESSAGE = {
    "429": "HTTP 429", "429bare": "HTTP 429", "500": "HTTP 500", "502": "HTTP 502",
    "503": "HTTP 503", "reset": "connection reset", "hang": "timeout",
    "badjson": "malformed JSON", "truncated": "truncated body", "html": "content type",
    "empty_choices": "empty choices",
}


def _write_items(path: Path, texts: list[str]) -> Path:
    with open(path, "w") as fh:
        for i, text in enumerate(texts):
            gold = "hate" if "hate" in text else "none"
            fh.write(json.dumps({"id": f"x{i:04d}", "text": text,
                                 "labels": {"hate_speech": gold}}) + "\n")
    return path


def _config(tmp_path: Path, url: str, texts: list[str], **llm) -> dict:
    decider = {"name": "stub-llm", "kind": "llm", "model": "openai/stub", "api_base": url,
               "price": PRICE, "structured_output": "json_schema", "concurrency": 8,
               "timeout_s": 1, "max_attempts": MAX_ATTEMPTS, **llm}
    return {
        "name": "fault-matrix",
        "golden_set": {"path": str(_write_items(tmp_path / "items.jsonl", texts))},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [decider],
        "max_error_rate": 0.5,
    }


def test_every_kind_is_listed() -> None:
    assert set(EXPECTED_MESSAGE) == set(RANDOM_KINDS)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_each_fault_kind_is_recovered_or_a_named_error(kind: str, write_config, tmp_path) -> None:
    faults = {"FAULTONCE": f"{kind}:1", "FAULTEVER": f"{kind}:always"}
    texts = ["i hate this FAULTONCE", "fine weather FAULTEVER", "a calm day"]
    with StubServer(fault_times=0, faults=faults, hang_s=30, retry_after_s=0.1) as server:
        path = write_config(_config(tmp_path, server.url, texts))
        start = time.monotonic()
        result = run_eval(path, out_dir=tmp_path / "results", run_id="r", live_progress=False)
        elapsed = time.monotonic() - start
        asked = Counter(server.stats()["items"])
        injected = server.stats()["faults"][kind]
    by_text = {texts[int(d.item_id[1:])]: d for d in RunDir(result.run_dir).read_decisions()}
    assert len(by_text) == 3 and result.exit_code == 0

    once = by_text[texts[0]]
    assert (once.outcome, once.label, once.attempts) == ("ok", "hate", 2), once.error
    ever = by_text[texts[1]]
    assert ever.outcome == "error" and ever.label is None and ever.attempts == MAX_ATTEMPTS
    assert EXPECTED_MESSAGE[kind] in ever.error, ever.error
    assert (by_text[texts[2]].outcome, by_text[texts[2]].attempts) == ("ok", 1)
    assert asked == {texts[0]: 2, texts[1]: MAX_ATTEMPTS, texts[2]: 1}
    assert injected == 1 + MAX_ATTEMPTS
    if kind == "hang":  # four attempts hung; each was cut at timeout_s, not at hang_s
        assert elapsed < 15


def test_1000_items_at_20_percent_faults(write_config, tmp_path) -> None:
    n = 1000
    texts = [f"message {i} {'i hate them' if i % 3 == 0 else 'all good'}" for i in range(n)]
    # a separate process, so the server does not share this process's CPU (and GIL) with the run
    with StubProcess("--fault-rate", "0.2", "--fault-seed", "13", "--fault-max-times",
                     str(MAX_ATTEMPTS), "--hang", "30", "--retry-after", "0.05",
                     "--fault-times", "0") as server:
        path = write_config(_config(tmp_path, server.url, texts, concurrency=32))
        start = time.monotonic()
        result = run_eval(path, out_dir=tmp_path / "results", run_id="big", live_progress=False)
        elapsed = time.monotonic() - start
        stats = server.stats()

        rows = read_jsonl(result.run_dir / "decisions.jsonl")
        assert sorted(r["item_id"] for r in rows) == [f"x{i:04d}" for i in range(n)], \
            "every item exactly once"
        assert result.exit_code == 0, result.budget_breaches
        by_text = {texts[int(r["item_id"][1:])]: r for r in rows}
        assert {r["outcome"] for r in rows} <= {"ok", "error"}

        asked = Counter(stats["items"])
        assert set(asked) == set(texts)
        assert max(asked.values()) <= MAX_ATTEMPTS, "retries bounded by max_attempts"
        planned = stats["random_faults"]["planned"]
        unrecoverable = {p["item"] for p in planned
                         if p["times"] is None or p["times"] >= MAX_ATTEMPTS}
        recovered = {p["item"] for p in planned} - unrecoverable
        errors = {text for text, row in by_text.items() if row["outcome"] == "error"}
        assert errors == unrecoverable, "error outcomes are exactly the unrecoverable faults"
        assert 150 <= len(planned) <= 250 and len(unrecoverable) > 30 and len(recovered) > 30
        for p in planned:
            row = by_text[p["item"]]
            assert row["attempts"] == (MAX_ATTEMPTS if p["item"] in errors else p["times"] + 1)
            if p["item"] in errors:
                assert EXPECTED_MESSAGE[p["kind"]] in row["error"], row["error"]
        clean = set(texts) - {p["item"] for p in planned}
        assert all(by_text[t]["outcome"] == "ok" and by_text[t]["attempts"] == 1 for t in clean)
        by_kind = stats["random_faults"]["by_kind"]
        assert set(by_kind) == set(RANDOM_KINDS)
        injected = sum(k["injected"] for k in by_kind.values())
        assert injected == sum(stats["faults"][k] for k in RANDOM_KINDS)
        print(f"\nfault matrix: {len(planned)} faulted items, {injected} faults injected, "
              f"{len(recovered)} recovered, {len(errors)} errors, max attempts "
              f"{max(asked.values())}, {elapsed:.1f} s; by kind: "
              + json.dumps({k: v for k, v in sorted(by_kind.items())}))

        # resume: only the error rows are asked again (errors are never cached); the faults that
        # failed their first 3 attempts now clear, the "always" ones end as errors again
        before = Counter(server.stats()["items"])
        resumed = run_eval(path, out_dir=tmp_path / "results", run_id="big", resume=True,
                           live_progress=False)
        again = Counter(server.stats()["items"]) - before
    assert set(again) == errors
    rows = read_jsonl(resumed.run_dir / "decisions.jsonl")
    assert len(rows) == n and len({r["item_id"] for r in rows}) == n
    always = {p["item"] for p in planned if p["times"] is None}
    assert {texts[int(r["item_id"][1:])] for r in rows if r["outcome"] == "error"} == always
