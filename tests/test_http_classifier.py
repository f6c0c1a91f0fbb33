"""The ``http`` kind against a real REST classifier on 127.0.0.1 (tests/classifier_server.py):
answers read at their paths and mapped to policy labels, the response cache (a rerun calls
nothing; paths, labels and thresholds re-read cached answers), retries that recover from 429 and
500 and timeouts, a stop at the first 401, malformed bodies never cached, and the API key in no
file and no output."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from evalharness import estimate, run_eval
from evalharness.execution.rundir import RunDir

from classifier_server import CONFIDENCE, ClassifierServer, answer, classify
from conftest import REPO

KEY_ENV = "MODERATION_API_KEY"
KEY = "mk-live-7f3a9c1e5b2d4086aa"

TEXTS = ["they are vermin", "what a lovely day", "you absolute idiot", "subhuman scum, all of them",
         "fresh bread at the market", "loser", "VERMIN everywhere", "see you tomorrow"]
CLASS_TO_LABEL = {"hate": "hate", "harassment": "none", "safe": "none"}


def _golden(path: Path, texts: list[str], policy: str = "hate_speech",
            gold=lambda text: CLASS_TO_LABEL[classify(text)]) -> Path:
    with open(path, "w") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"x{i:02d}", "text": text,
                                 "labels": {policy: gold(text)}}) + "\n")
    return path


def _decider(address: str, **options) -> dict:
    return {"name": "modapi", "kind": "http", "url": address,
            "headers": {"Authorization": "Bearer ${%s}" % KEY_ENV, "X-Client": "eval-tests"},
            "request": {"input": "{text}", "model": "omni"},
            "score_path": "results.0.category_scores", "labels": CLASS_TO_LABEL,
            "concurrency": 4, "timeout_s": 2, "max_attempts": 3, "cost_per_decision_usd": 0.001,
            **options}


def _config(tmp_path: Path, deciders: list[dict], texts: list[str] = TEXTS, **extra) -> dict:
    return {"name": "http", "golden_set": {"path": str(_golden(tmp_path / "items.jsonl", texts))},
            "policies": ["hate_speech"], "policies_dir": str(REPO / "policies"),
            "deciders": deciders, "cache": {"dir": str(tmp_path / "cache")}, **extra}


def _run(path: Path, tmp_path: Path, run_id: str):
    return run_eval(path, out_dir=tmp_path / "runs", run_id=run_id, live_progress=False)


def _decisions(tmp_path: Path, run_id: str, decider: str = "modapi") -> dict:
    return {d.item_id: d for d in RunDir(tmp_path / "runs" / run_id).read_decisions()
            if d.decider == decider}


def _assert_secret_nowhere(secret: str, *folders: Path) -> int:
    files = [f for folder in folders for f in folder.rglob("*") if f.is_file()]
    for file in files:
        assert secret.encode() not in file.read_bytes(), file
    return len(files)


def test_decisions_follow_the_answers_and_a_rerun_calls_nothing(write_config, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with ClassifierServer(api_key=KEY) as server:
        path = write_config(_config(tmp_path, [_decider(server.url)]))
        first = _run(path, tmp_path, "a")
        assert first.exit_code == 0
        assert server.stats()["completions"] == len(TEXTS)
        assert sorted(server.stats()["texts"]) == sorted(TEXTS)
        assert all(h["Authorization"] == f"Bearer {KEY}" and h["X-Client"] == "eval-tests"
                   for h in server.headers)
        decisions = _decisions(tmp_path, "a")
        assert len(decisions) == len(TEXTS)
        for i, text in enumerate(TEXTS):
            d = decisions[f"x{i:02d}"]
            scores = answer(text)["results"][0]["category_scores"]
            expected = {"hate": scores["hate"], "none": scores["harassment"] + scores["safe"]}
            assert d.outcome == "ok" and d.label == CLASS_TO_LABEL[classify(text)] == d.gold, text
            assert d.scores == pytest.approx(expected)
            assert d.confidence == pytest.approx(expected[d.label])
            assert d.confidence_source == "score" and d.cost_usd == 0.001 and not d.cached
        assert {d.label for d in decisions.values()} == {"hate", "none"}

        # the dry run prices the calls it would make per decision (all cached now: none)
        dry = estimate(path).rows[0]
        assert (dry.calls, dry.cached, dry.cost_usd) == (0, len(TEXTS), 0.0)
        fresh = estimate(path, use_cache=False).rows[0]
        assert fresh.calls == len(TEXTS) and fresh.cost_usd == pytest.approx(0.001 * len(TEXTS))
        assert fresh.basis == "price per decision"

        # the same config again: every answer from the cache, not one call
        _run(path, tmp_path, "b")
        again = _decisions(tmp_path, "b")
        assert server.stats()["completions"] == len(TEXTS)
        assert all(d.cached and d.attempts == 0 for d in again.values())
        assert {k: d.label for k, d in again.items()} == {k: d.label for k, d in decisions.items()}

        # how the answer is read is not in the cache key: a threshold re-reads cached answers
        low = write_config(_config(tmp_path, [_decider(server.url, threshold=0.04)]), "low.yaml")
        _run(low, tmp_path, "c")
        assert server.stats()["completions"] == len(TEXTS)
        assert {d.label for d in _decisions(tmp_path, "c").values()} == {"hate"}

        # the key's value is not in the cache key either (the server would refuse this one) ...
        monkeypatch.setenv(KEY_ENV, "mk-rotated-key-0000000000")
        _run(path, tmp_path, "d")
        assert server.stats()["completions"] == len(TEXTS)
        monkeypatch.setenv(KEY_ENV, KEY)
        # ... but a header's non-secret value is: the answers may differ, so they are asked again
        other = _decider(server.url, headers={"Authorization": "Bearer ${%s}" % KEY_ENV,
                                              "X-Client": "another-client"})
        _run(write_config(_config(tmp_path, [other]), "other.yaml"), tmp_path, "e")
        assert server.stats()["completions"] == 2 * len(TEXTS)
    manifest = (tmp_path / "runs" / "a" / "manifest.json").read_text()
    assert "${MODERATION_API_KEY}" in manifest  # the reference is recorded, never the value
    assert _assert_secret_nowhere(KEY, tmp_path / "runs", tmp_path / "cache") > 10


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_request_is_built_from_the_item_not_formatted(write_config, tmp_path, monkeypatch,
                                                          method):
    monkeypatch.setenv(KEY_ENV, KEY)
    texts = ['he said "vermin" \\ then left', "line one\nline two {policy} {text}",
             "ünïcödé ✓ — ${MODERATION_API_KEY}", '{"input": "injected"}']
    with ClassifierServer(api_key=KEY) as server:
        decider = _decider(server.url, method=method,
                           request={"input": "{text}", "ref": "{item_id}/{policy}"})
        path = write_config(_config(tmp_path, [decider], texts=texts, max_error_rate=None))
        _run(path, tmp_path, "r")
        assert sorted(server.stats()["texts"]) == sorted(texts)
    decisions = _decisions(tmp_path, "r")
    assert [decisions[f"x{i:02d}"].label for i in range(4)] == ["hate", "none", "none", "none"]
    assert all(d.outcome == "ok" for d in decisions.values())


def test_retries_recover_from_429_500_and_timeouts(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    texts = [*TEXTS, "BUSY vermin", "FLAKY idiot", "SLOW lovely"]
    faults = {"BUSY": "429:1", "FLAKY": "500:2", "SLOW": "hang:1"}
    with ClassifierServer(api_key=KEY, faults=faults, retry_after_s=1, hang_s=10) as server:
        decider = _decider(server.url, timeout_s=0.5, max_attempts=3)
        path = write_config(_config(tmp_path, [decider], texts=texts))
        start = time.monotonic()
        result = _run(path, tmp_path, "r")
        elapsed = time.monotonic() - start
        stats = server.stats()
    assert stats["completions"] == len(texts) + 1 + 2 + 1
    assert stats["fault_markers"] == {"BUSY": 1, "FLAKY": 2, "SLOW": 1, "FAULTALWAYS500": 0,
                                      "FAULT429": 0, "FAULT500": 0, "FAULTHANG": 0, "FAULTJSON": 0}
    decisions = _decisions(tmp_path, "r")
    assert all(d.outcome == "ok" for d in decisions.values())
    attempts = {texts[int(k[1:])]: d.attempts for k, d in decisions.items()}
    assert (attempts["BUSY vermin"], attempts["FLAKY idiot"], attempts["SLOW lovely"]) == (2, 3, 2)
    assert decisions["x08"].label == "hate" and decisions["x09"].label == "none"
    assert elapsed >= 1.0, "the retry came sooner than the server's Retry-After"
    assert result.manifest.counts["model_calls_this_session"] == stats["completions"]
    assert result.manifest.endpoints[server.base_url]["rate_limited"] == 1


def test_deciders_on_one_host_share_its_concurrency_bound(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    texts = [f"post {i}" for i in range(12)]
    with ClassifierServer(api_key=KEY, latency_s=0.1) as server:
        deciders = [_decider(server.url, concurrency=3),
                    _decider(server.url, name="modapi2", request={"input": "{text}", "v": 2},
                             concurrency=3)]
        start = time.monotonic()
        _run(write_config(_config(tmp_path, deciders, texts=texts)), tmp_path, "r")
        elapsed = time.monotonic() - start
        assert server.stats()["completions"] == 2 * len(texts)
        assert server.most_in_flight == 3
    assert elapsed >= 2 * len(texts) / 3 * 0.1 * 0.9


def test_a_refused_key_stops_the_run_with_one_clean_line(write_config, tmp_path, monkeypatch,
                                                         cli_run):
    wrong = "mk-wrong-key-5f1e9a7c3b00"
    monkeypatch.setenv(KEY_ENV, wrong)
    with ClassifierServer(api_key=KEY) as server:
        path = write_config(_config(tmp_path, [_decider(server.url)]))
        result = cli_run("run", path, "--out", tmp_path / "runs", "--run-id", "r")
        stats = server.stats()
    assert result.exit_code == 2, result.output
    assert stats["completions"] == 1 and stats["by_status"] == {"401": 1}
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "decider modapi" in errors[0] and "HTTP 401" in errors[0], errors[0]
    assert wrong not in result.output  # the server quotes the key it got; the message never does
    assert RunDir(tmp_path / "runs" / "r").read_manifest().status == "failed"
    assert _assert_secret_nowhere(wrong, tmp_path / "runs") >= 2


def test_a_malformed_body_is_an_error_never_cached_and_a_missing_path_is_invalid(
        write_config, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    texts = [*TEXTS, "BROKEN vermin", "EMPTYRESULT vermin"]
    partial = {"hate": "hate", "safe": "none"}  # says nothing of "harassment"
    with ClassifierServer(api_key=KEY, faults={"BROKEN": "badjson:always"}) as server:
        deciders = [_decider(server.url, max_attempts=3)]
        path = write_config(_config(tmp_path, deciders, texts=texts, max_error_rate=None))
        _run(path, tmp_path, "a")
        assert server.stats()["completions"] == len(texts) - 1 + 3
        _run(path, tmp_path, "b")  # only the malformed one is asked again, three times
        assert server.stats()["completions"] == len(texts) - 1 + 3 + 3
        narrow = write_config(_config(tmp_path, [_decider(server.url, labels=partial)],
                                      texts=texts, max_error_rate=None), "narrow.yaml")
        _run(narrow, tmp_path, "c")
        assert server.stats()["completions"] == len(texts) - 1 + 3 * 3
    for run_id in ("a", "b"):
        decisions = _decisions(tmp_path, run_id)
        broken, empty = decisions["x08"], decisions["x09"]
        assert broken.outcome == "error" and broken.attempts == 3 and not broken.cached
        assert "malformed response" in broken.error and broken.label is None
        assert empty.outcome == "invalid" and empty.label is None
        assert empty.raw == '{"results": []}' and "no 0 at results" in empty.error
        assert empty.cached == (run_id == "b")
        assert sum(d.outcome == "ok" for d in decisions.values()) == len(TEXTS)
    narrowed = _decisions(tmp_path, "c")
    unknown = {TEXTS[int(k[1:])] for k, d in narrowed.items()
               if d.outcome == "invalid" and "harassment" in d.error}
    assert unknown == set(TEXTS)  # every answer scores "harassment": nothing is dropped silently
    assert "labels: maps it to nothing" in narrowed["x02"].error
    assert narrowed["x02"].raw and '"harassment"' in narrowed["x02"].raw


ABUSE = """id: abuse_types
version: "1"
owner: tests
description: Three labels, two of them violating.
labels: [{name: hate}, {name: insult}, {name: none}]
violating: [hate, insult]
prompt: {system: Classify the item., user: "<item>{text}</item>"}
"""


def test_classes_map_to_a_many_label_policy(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "abuse_types.yaml").write_text(ABUSE)
    shutil.copy(REPO / "policies" / "hate_speech.yaml", policies)
    to_abuse = {"hate": "hate", "harassment": "insult", "safe": "none"}
    with ClassifierServer(api_key=KEY) as server:
        deciders = [
            _decider(server.url, name="scores", labels=to_abuse, policies=["abuse_types"]),
            _decider(server.url, name="label", score_path=None, label_path="results.0.category",
                     labels=to_abuse, policies=["abuse_types"]),
            _decider(server.url, name="both", score_path="results[0].score",
                     label_path="$.results[0]['category']", labels=to_abuse,
                     policies=["abuse_types"]),
            _decider(server.url, name="both2", score_path="results[0].score",
                     label_path="results.0.category", policies=["hate_speech"]),
            _decider(server.url, name="flagged", score_path=None, label_path="results.0.flagged",
                     labels={"true": "hate", "false": "none"}, policies=["hate_speech"]),
        ]
        config = _config(tmp_path, deciders, policies=["abuse_types", "hate_speech"],
                         policies_dir=str(policies))
        path = tmp_path / "items.jsonl"
        with open(path, "w") as fh:
            for i, text in enumerate(TEXTS):
                cls = classify(text)
                fh.write(json.dumps({"id": f"x{i:02d}", "text": text, "labels": {
                    "abuse_types": to_abuse[cls], "hate_speech": CLASS_TO_LABEL[cls]}}) + "\n")
        result = _run(write_config(config), tmp_path, "r")
        assert result.exit_code == 0
    rows = RunDir(tmp_path / "runs" / "r").read_decisions()
    assert len(rows) == len(TEXTS) * 5 and all(d.outcome == "ok" for d in rows)
    for d in rows:
        cls = classify(TEXTS[int(d.item_id[1:])])
        if d.policy == "abuse_types":
            assert d.label == to_abuse[cls] == d.gold
        if d.decider == "scores":
            assert d.confidence == pytest.approx(CONFIDENCE) and set(d.scores) == set(to_abuse.values())
        elif d.decider == "label" or d.decider == "flagged":
            assert d.confidence is None and d.scores is None and d.confidence_source is None
        elif d.decider == "both":  # the label's score, no distribution over three labels
            assert d.confidence == pytest.approx(CONFIDENCE) and d.scores is None
        else:  # both paths on a two-label policy: the other label gets the rest
            other = "none" if d.label == "hate" else "hate"
            assert d.scores == pytest.approx({d.label: CONFIDENCE, other: 1 - CONFIDENCE})
    flagged = {d.item_id: d.label for d in rows if d.decider == "flagged"}
    assert flagged == {f"x{i:02d}": "none" if classify(t) == "safe" else "hate"
                       for i, t in enumerate(TEXTS)}


@pytest.mark.parametrize("options, field, words", [
    ({"headers": {"Authorization": "Bearer mk-literal-123"}}, "headers", "literal secret"),
    ({"url": "http://127.0.0.1:9/x?api_key=abc123"}, "url", "literal secret"),
    ({"url": "ftp://127.0.0.1/x"}, "url", "http:// or https://"),
    ({"request": {"input": "{txt}"}}, "deciders.0", "unknown placeholder"),
    ({"request": {"input": "hello"}}, "deciders.0", '"{text}"'),
    ({"request": {"input": "{text}", "key": "${KEY}"}}, "deciders.0", "url and headers only"),
    ({"score_path": None}, "deciders.0", "score_path, label_path or both"),
    ({"score_path": "results..0"}, "score_path", "cannot read it"),
    ({"method": "GET", "request": {"input": ["{text}"]}}, "deciders.0", "flat mapping"),
    ({"headers": {"Authorization": "Bearer ${NOT_SET_ANYWHERE}"}}, "headers",
     "NOT_SET_ANYWHERE is not set"),
    ({"labels": {"hate": "hateful"}}, "labels", "['hateful'] are not labels"),
    ({"score_path": None, "label_path": "results.0.category", "threshold": 0.5}, "threshold",
     "threshold needs score_path"),
])
def test_config_mistakes_are_one_line_naming_the_field(write_config, tmp_path, monkeypatch,
                                                       cli_run, options, field, words):
    monkeypatch.setenv(KEY_ENV, KEY)
    config = _config(tmp_path, [_decider("http://127.0.0.1:9/classify", **options)])
    result = cli_run("run", write_config(config), "--out", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "config.yaml:" in errors[0] and field in errors[0] and words in errors[0], errors[0]
    assert KEY not in result.output and not (tmp_path / "runs").exists()
