"""The ``llm`` decider's aiohttp path honours HTTP_PROXY and NO_PROXY (read once per session).

The stub server plays the proxy: a request sent through an HTTP proxy names its target as an
absolute URL, which the stub routes by path like any other request.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from evalharness import run_eval
from evalharness.testing.stub_server import StubServer

from conftest import REPO, read_jsonl

TEXTS = ["i hate you all", "lovely weather", "nice shoes"]


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _run(tmp_path: Path, api_base: str) -> tuple[list[dict], Path]:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(
        f'{{"id": "p{i}", "text": "{text}", "labels": {{"hate_speech": "none"}}}}\n'
        for i, text in enumerate(TEXTS)))
    config = {"name": "proxy", "golden_set": {"path": str(items)}, "policies": ["hate_speech"],
              "policies_dir": str(REPO / "policies"),
              "deciders": [{"name": "stub-llm", "kind": "llm", "model": "openai/stub",
                            "api_base": api_base, "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.2},
                            "max_attempts": 1, "timeout_s": 5}]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_eval(path, out_dir=tmp_path / "runs", run_id="r", live_progress=False)
    return read_jsonl(result.run_dir / "decisions.jsonl"), result.run_dir


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_requests_go_through_the_proxy_named_by_http_proxy(tmp_path: Path,
                                                           no_proxy_env: pytest.MonkeyPatch) -> None:
    with StubServer() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url.rsplit("/v1", 1)[0])
        # nothing listens at the endpoint itself: only the proxy can answer
        decisions, _ = _run(tmp_path, _closed_port_url() + "/v1")
        assert [d["outcome"] for d in decisions] == ["ok"] * len(TEXTS)
        assert proxy.stats()["completions"] == len(TEXTS)


def test_no_proxy_sends_the_endpoint_direct(tmp_path: Path,
                                            no_proxy_env: pytest.MonkeyPatch) -> None:
    with StubServer() as server:
        no_proxy_env.setenv("HTTP_PROXY", _closed_port_url())  # a proxy that cannot answer
        no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        decisions, _ = _run(tmp_path, server.url)
        assert [d["outcome"] for d in decisions] == ["ok"] * len(TEXTS)
        assert server.stats()["completions"] == len(TEXTS)
