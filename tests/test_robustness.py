"""Edge cases found in review: table formats, duplicate keys, resume, locking, keys, bugs."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from evalharness import run_eval
from evalharness import load_config
from evalharness.deciders.llm_options import LlmDeciderConfig
from evalharness.deciders.chat import ChatLlm
from evalharness.records.errors import DeciderError
from evalharness.inputs.policies import load_policy
from evalharness.deciders.ratelimit import AdaptiveLimiter
from evalharness.execution.rundir import RunDir
from evalharness.testing.stub_server import StubServer

from conftest import MINI, REPO, mini_config, read_jsonl

MINI_ROWS = [json.loads(line) for line in (MINI / "items.jsonl").read_text().splitlines()]


def _one_line_exit_2(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_parquet_with_list_columns_and_a_label_some_rows_lack(write_config, cli_run, tmp_path):
    rows = [dict(r) for r in MINI_ROWS]
    rows[0] = {**rows[0], "labels": {**rows[0]["labels"], "offensive": "offensive"}}
    path = tmp_path / "items.parquet"
    pd.DataFrame(rows).to_parquet(path)  # meta.target is a list; labels.offensive is null elsewhere
    config = mini_config()
    config["golden_set"]["path"] = str(path)
    result = cli_run("validate", write_config(config))
    assert result.exit_code == 0, result.output
    assert "12 items" in result.stdout


def test_csv_with_a_trailing_comma_keeps_its_columns(write_config, cli_run, tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text("id,text,labels.hate_speech\na1,you are vermin,hate,\na2,nice day,none,\n")
    config = mini_config(deciders=[{"name": "tfidf", "kind": "classic",
                                    "train": {"path": str(MINI / "train.jsonl")}}], slice_by=[])
    config["golden_set"]["path"] = str(csv)
    result = cli_run("run", write_config(config), "--out", tmp_path / "runs", "--run-id", "r")
    assert result.exit_code == 0, result.output
    items = RunDir(tmp_path / "runs" / "r").read_items()
    assert items["a1"].text == "you are vermin" and items["a1"].labels == {"hate_speech": "hate"}


def test_many_bad_rows_are_capped(write_config, cli_run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"id": f"x{i}"}) + "\n" for i in range(100)))
    config = mini_config()
    config["golden_set"]["path"] = str(bad)
    result = cli_run("validate", write_config(config))
    _one_line_exit_2(result, "bad.jsonl:1")
    # the same problem on every row is one line naming the others
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}:1: text: required field is missing (also on 99 more rows: line 2, 3, 4, 5, "
        "6, ...) (add `text` to this row)"]


def test_duplicate_yaml_keys_are_errors(write_config, cli_run, tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    text = (REPO / "policies" / "hate_speech.yaml").read_text()
    (folder / "hate_speech.yaml").write_text(text + "violating: [none]\n")
    result = cli_run("validate", write_config(mini_config(policies_dir=str(folder))))
    _one_line_exit_2(result, "hate_speech.yaml:", "violating", "key repeated (first on line")


@pytest.mark.parametrize("text", ["a </item > b", "a </ITEM\n> b", "a </ item> b", "a <item x=1> b"])
def test_item_delimiters_are_neutralised_in_every_spelling(text):
    policy = load_policy(REPO / "policies" / "hate_speech.yaml")
    rendered = policy.render_user(text)
    assert rendered.lower().count("<item>") == 1 and rendered.lower().count("</item>") == 1


def test_rate_limit_burst_halves_concurrency_once_per_pause():
    async def scenario():
        limiter = AdaptiveLimiter(32)
        for _ in range(10):
            await limiter.back_off(5.0)
        return limiter.limit, limiter.rate_limited

    assert asyncio.run(scenario()) == (16, 10)


def test_429s_during_an_exhausted_budget_pause_still_halve_concurrency():
    async def scenario():
        limiter = AdaptiveLimiter(8)
        await limiter.succeeded(reset_in=1.0)  # "0 requests remaining": a pause, no halving
        paused = limiter.limit
        for _ in range(5):  # requests already in flight come back 429
            await limiter.back_off(1.0)
        return paused, limiter.limit, limiter.rate_limited

    assert asyncio.run(scenario()) == (8, 4, 6)


def test_resume_retries_earlier_errors_and_keeps_one_row_each(write_config, tmp_path):
    with StubServer(faults={"FLAKY": "500:3"}) as server:
        items = tmp_path / "items.jsonl"
        items.write_text("".join(json.dumps({"id": f"i{i}", "text": t, "labels": {"hate_speech": "none"}}) + "\n"
                                 for i, t in enumerate(["calm words", "FLAKY server today"])))
        config = {"name": "flaky", "golden_set": {"path": str(items)}, "policies": ["hate_speech"],
                  "policies_dir": str(REPO / "policies"),
                  "deciders": [{"name": "llm", "kind": "llm", "model": "openai/stub", "api_base": server.url,
                                "price": {"input_per_mtok": 0, "output_per_mtok": 0}, "max_attempts": 2}]}
        path = write_config(config)
        first = run_eval(path, out_dir=tmp_path / "runs", run_id="r", live_progress=False)
        assert first.manifest.counts["error"] == 1
        config["deciders"][0]["concurrency"] = 1  # operational settings may change on resume
        second = run_eval(write_config(config), out_dir=tmp_path / "runs", run_id="r", resume=True,
                          live_progress=False)
    rows = read_jsonl(second.run_dir / "decisions.jsonl")
    assert len(rows) == 2 and {r["outcome"] for r in rows} == {"ok"}
    flaky = next(r for r in rows if r["item_id"] == "i1")
    assert flaky["attempts"] == 2  # the 3rd failed, the 4th answered


def test_a_run_folder_is_written_by_one_process_at_a_time(write_config, tmp_path):
    path = write_config(mini_config())
    first = run_eval(path, out_dir=tmp_path / "runs", run_id="r", live_progress=False)
    with RunDir(first.run_dir).lock():
        with pytest.raises(Exception, match="another process is writing this run"):
            run_eval(path, out_dir=tmp_path / "runs", run_id="r", resume=True, live_progress=False)


def test_resume_without_run_id_prefers_the_unfinished_run(write_config, tmp_path):
    path = write_config(mini_config())
    out = tmp_path / "runs"
    run_eval(path, out_dir=out, run_id="a-old", live_progress=False)
    unfinished = RunDir(out / "a-old")
    manifest = unfinished.read_manifest()
    manifest.status = "interrupted"
    unfinished.write_manifest(manifest)
    run_eval(path, out_dir=out, run_id="b-new", live_progress=False)
    resumed = run_eval(path, out_dir=out, resume=True, live_progress=False)
    assert resumed.run_dir.name == "a-old" and resumed.manifest.status == "complete"


def test_run_id_must_be_a_plain_folder_name(write_config, cli_run, tmp_path):
    result = cli_run("run", write_config(mini_config()), "--out", tmp_path / "runs", "--run-id", "../x")
    _one_line_exit_2(result, "--run-id", "not a plain folder name")


def test_a_bug_is_one_line_exit_70_and_the_run_is_marked_failed(write_config, cli_run, tmp_path, monkeypatch):
    import evalharness.execution.runner as runner

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(runner, "_setup", broken)
    result = cli_run("run", write_config(mini_config()), "--out", tmp_path / "runs", "--run-id", "r")
    assert result.exit_code == 70
    assert result.stderr.strip().splitlines() == [
        "error: internal error: RuntimeError: simulated bug (a bug in evalharness; rerun with "
        "EVALHARNESS_DEBUG=1 for the traceback and report it)"]
    assert RunDir(tmp_path / "runs" / "r").read_manifest().status == "failed"


def test_training_data_too_small_to_fit_is_bad_input(write_config, cli_run, tmp_path):
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text(json.dumps({"id": "t1", "text": "alpha", "labels": {"hate_speech": "hate"}}) + "\n"
                    + json.dumps({"id": "t2", "text": "beta", "labels": {"hate_speech": "none"}}) + "\n")
    config = mini_config()
    config["deciders"][0]["train"]["path"] = str(tiny)
    result = cli_run("run", write_config(config), "--out", tmp_path / "runs")
    _one_line_exit_2(result, "cannot train on 2 items labeled for hate_speech", "deciders.0.train")


def test_corrupt_cache_file_is_bad_input_naming_it(write_config, cli_run, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "responses.sqlite").write_text("garbage, not a database")
    monkeypatch.setenv("EVALHARNESS_CACHE_DIR", str(cache))
    result = cli_run("run", write_config(mini_config()), "--out", tmp_path / "runs")
    _one_line_exit_2(result, "responses.sqlite", "cache.dir", "--no-cache")
    assert not (tmp_path / "runs").exists()


def test_openai_models_use_the_standard_key_variable(write_config, tmp_path, monkeypatch):
    config = mini_config(deciders=[{"name": "gpt", "kind": "llm", "model": "openai/gpt-4o-mini"}])
    run_config = load_config(write_config(config))
    spec = run_config.deciders[0]
    assert isinstance(spec, LlmDeciderConfig)
    policy = load_policy(REPO / "policies" / "hate_speech.yaml")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(DeciderError, match="no API key"):
        ChatLlm(spec, run_config).check([policy], [])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-standard-variable")
    decider = ChatLlm(spec, run_config)
    decider.check([policy], [])
    decider.setup([policy], [])
    assert decider._client.api_key == "sk-test-standard-variable"
    assert "sk-test-standard-variable" in decider.secrets()


def test_few_shot_replies_follow_the_json_answer_format(write_config, tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    text = (REPO / "policies" / "hate_speech.yaml").read_text()
    (folder / "hate_speech.yaml").write_text(text + "examples:\n  - {text: you vermin, label: hate}\n")
    config = mini_config(policies_dir=str(folder), deciders=[{
        "name": "m", "kind": "llm", "model": "openai/stub", "api_base": "http://127.0.0.1:9/v1",
        "structured_output": "json_object", "price": {"input_per_mtok": 0, "output_per_mtok": 0}}])
    run_config = load_config(write_config(config))
    decider = ChatLlm(run_config.deciders[0], run_config)
    from evalharness.deciders import DecisionRequest
    from evalharness.records import GoldenItem

    policy = load_policy(folder / "hate_speech.yaml")
    payload = decider.payload(DecisionRequest(GoldenItem(id="x", text="hi"), policy))
    assert json.loads(payload["messages"][2]["content"]) == {"label": "hate", "confidence": 1.0}


def test_run_eval_works_inside_a_running_event_loop(write_config, tmp_path):
    """A notebook already runs an event loop; run_eval must still work there."""
    with StubServer() as server:
        config = mini_config(deciders=[{"name": "m", "kind": "llm", "model": "openai/stub",
                                        "api_base": server.url,
                                        "price": {"input_per_mtok": 0, "output_per_mtok": 0}}])
        path = write_config(config)

        async def notebook_cell():
            return run_eval(path, out_dir=tmp_path / "runs", limit=3, live_progress=False)

        result = asyncio.run(notebook_cell())
    assert result.manifest.counts["ok"] == 3
