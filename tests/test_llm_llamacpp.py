"""The HTTP path against a real ``llama_cpp.server`` on 127.0.0.1 serving the embedded model."""

from __future__ import annotations

import pytest

from evalharness import run_eval
from evalharness.deciders.embedded import default_gguf
from evalharness.execution.rundir import RunDir

from conftest import mini_config
from servers import completion_requests, llama_cpp_server

pytestmark = pytest.mark.slow
PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 2.0}
ITEMS = 4  # each request takes ~1.5 s: the server computes logits for every prompt token


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_cpp_server(default_gguf(), "smollm", log) as url:
        yield url, log


def _config(url: str, client: str) -> dict:
    return mini_config(deciders=[{
        "name": "smol-http", "kind": "llm", "model": "openai/smollm", "api_base": url,
        "client": client, "structured_output": "json_object", "logprobs": True, "price": PRICE,
        "concurrency": 2,
    }])


def _run(write_config, tmp_path, config, name, **kwargs):
    path = write_config(config, f"{name}.yaml")
    result = run_eval(path, out_dir=tmp_path / "results", run_id=name, limit=ITEMS, live_progress=False,
                      **kwargs)
    return sorted(RunDir(result.run_dir).read_decisions(), key=lambda d: d.item_id)


def test_litellm_and_openai_sdk_paths_record_identical_decisions(llama_server, write_config, tmp_path):
    url, _ = llama_server
    via_litellm = _run(write_config, tmp_path, _config(url, "litellm"), "a", use_cache=False)
    via_openai = _run(write_config, tmp_path, _config(url, "openai"), "b", use_cache=False)
    assert len(via_litellm) == ITEMS
    assert {d.outcome for d in via_litellm} <= {"ok", "invalid", "refusal"}
    ok = [d for d in via_litellm if d.outcome == "ok"]
    assert ok, "the json_object grammar makes SmolLM2 answer with a label"
    for d in ok:
        assert d.label in ("hate", "none")
        assert d.confidence_source == "logprobs"
        assert 0 < d.confidence <= 1 and sum(d.scores.values()) == pytest.approx(1.0)
    for d in via_litellm:
        assert d.usage.prompt_tokens > 0 and d.usage.completion_tokens > 0
        expected = (d.usage.prompt_tokens * 1.0 + d.usage.completion_tokens * 2.0) / 1e6
        assert d.cost_usd == pytest.approx(expected, rel=1e-12)
        assert d.attempts == 1 and not d.cached
    assert [d.item_id for d in via_litellm] == [d.item_id for d in via_openai]
    for a, b in zip(via_litellm, via_openai):
        assert (a.outcome, a.label, a.usage, a.cost_usd, a.raw) == (b.outcome, b.label, b.usage, b.cost_usd, b.raw)
        assert a.confidence == pytest.approx(b.confidence, rel=1e-3)
        assert a.confidence_source == b.confidence_source


def test_rerun_is_served_from_cache_with_zero_requests(llama_server, write_config, tmp_path):
    url, log = llama_server
    config = _config(url, "openai")
    first = _run(write_config, tmp_path, config, "first")
    seen = completion_requests(log)
    second = _run(write_config, tmp_path, config, "second")
    assert completion_requests(log) == seen, "the rerun reached the server"
    assert all(d.cached and d.attempts == 0 for d in second)
    assert [(d.item_id, d.label, d.outcome, d.usage, d.cost_usd) for d in first] == [
        (d.item_id, d.label, d.outcome, d.usage, d.cost_usd) for d in second]
    assert not any(d.cached for d in first)
