"""A team's existing classifiers as deciders: ``sklearn`` (skops / joblib / pickle files), ``onnx``
(skl2onnx exports and HateSonar's shipped model), ``python`` (an in-house function) and
multi-class ``precomputed`` scores — each run for real through ``run_eval`` or the CLI, and its
probabilities compared with the library that made the model."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from evalharness import run_eval

from conftest import FIXTURES, MINI, REPO, mini_config, read_jsonl

CLASSIFIERS = FIXTURES / "classifiers"
ITEMS = [json.loads(line) for line in (MINI / "items.jsonl").read_text().splitlines()]
TEXTS = [it["text"] for it in ITEMS]


def _train() -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (MINI / "train.jsonl").read_text().splitlines()]
    return [r["text"] for r in rows], [r["labels"]["hate_speech"] for r in rows]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    """TF-IDF + logistic regression trained on the MINI training set."""
    return Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression(C=10.0))]).fit(*_train())


def _run(write_config, tmp_path: Path, *deciders: dict, **overrides):
    config = mini_config(deciders=list(deciders), cache={"enabled": False}, **overrides)
    result = run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    return result, {name: {r["item_id"]: r for r in rows if r["decider"] == name}
                    for name in {d["name"] for d in deciders}}


def _scores(rows: dict, label: str) -> np.ndarray:
    return np.array([rows[it["id"]]["scores"][label] for it in ITEMS])


def _one_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def _line_of(path: Path, key: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.strip().startswith(key))


# --- sklearn -------------------------------------------------------------------------------------

def test_sklearn_skops_and_joblib_files_give_the_pipelines_probabilities(pipeline, write_config, tmp_path):
    import skops.io as sio

    sio.dump(pipeline, tmp_path / "model.skops")
    joblib.dump(pipeline, tmp_path / "model.joblib")
    result, rows = _run(write_config, tmp_path,
                        {"name": "skops", "kind": "sklearn", "path": "model.skops", "batch_size": 5},
                        {"name": "jl", "kind": "sklearn", "path": "model.joblib", "format": "joblib",
                         "trusted": True})
    expected = pipeline.predict_proba(TEXTS)[:, list(pipeline.classes_).index("hate")]
    for name in ("skops", "jl"):
        assert len(rows[name]) == 12 and {r["outcome"] for r in rows[name].values()} == {"ok"}
        np.testing.assert_allclose(_scores(rows[name], "hate"), expected, rtol=0, atol=1e-12)
        assert {r["confidence_source"] for r in rows[name].values()} == {"probability"}
        assert all(r["latency_s"] is not None and r["latency_s"] >= 0 for r in rows[name].values())
        labels = [rows[name][it["id"]]["label"] for it in ITEMS]
        assert labels == list(pipeline.predict(TEXTS))
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    described = {d["name"]: d for d in manifest["deciders"]}
    assert described["skops"]["estimator"] == ["tfidf:TfidfVectorizer", "lr:LogisticRegression"]
    assert len(described["skops"]["sha256"]) == 64


def test_untrusted_skops_types_are_refused_until_listed(write_config, cli_run, tmp_path):
    import skops.io as sio

    lowering = Pipeline([("lower", FunctionTransformer(np.char.lower)), ("tfidf", TfidfVectorizer()),
                         ("lr", LogisticRegression())]).fit(*_train())
    sio.dump(lowering, tmp_path / "lower.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "lower.skops")
    assert untrusted  # the function is a type skops does not trust by default
    entry = {"name": "skl", "kind": "sklearn", "path": "lower.skops"}
    path = write_config(mini_config(deciders=[entry]))
    _one_error(cli_run("validate", path), str(path), "trusted_types", *untrusted)

    entry["trusted_types"] = untrusted
    result, rows = _run(write_config, tmp_path, entry)
    shouted = [t.upper() for t in TEXTS]
    np.testing.assert_allclose(_scores(rows["skl"], "hate"),
                               lowering.predict_proba(shouted)[:, list(lowering.classes_).index("hate")])


def test_pickle_without_trusted_is_a_config_error_naming_its_line(pipeline, write_config, cli_run, tmp_path):
    with open(tmp_path / "model.pkl", "wb") as fh:
        pickle.dump(pipeline, fh)
    path = write_config(mini_config(deciders=[
        {"name": "pkl", "kind": "sklearn", "path": "model.pkl", "format": "pickle"}]))
    line = _one_error(cli_run("run", path, "--out", tmp_path / "runs"), "trusted: true")
    assert line.startswith(f"error: {path}:{_line_of(path, 'format:')}: deciders.0.format")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unmapped_model_classes_are_a_config_error(write_config, cli_run, tmp_path):
    import skops.io as sio

    numeric = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression())])
    texts, labels = _train()
    sio.dump(numeric.fit(texts, [int(label == "hate") for label in labels]), tmp_path / "m.skops")
    path = write_config(mini_config(deciders=[{"name": "skl", "kind": "sklearn", "path": "m.skops"}]))
    _one_error(cli_run("run", path, "--out", tmp_path / "runs"), "labels", "['0', '1']")


# --- onnx ----------------------------------------------------------------------------------------

def _to_onnx(pipeline: Pipeline, path: Path, zipmap: bool) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType

    options = None if zipmap else {id(pipeline.steps[-1][1]): {"zipmap": False}}
    model = to_onnx(pipeline, initial_types=[("text", StringTensorType([None, 1]))],
                    options=options, target_opset=17)
    path.write_bytes(model.SerializeToString())


def test_onnx_export_gives_the_sklearn_pipelines_probabilities(pipeline, write_config, tmp_path):
    _to_onnx(pipeline, tmp_path / "zipmap.onnx", zipmap=True)
    _to_onnx(pipeline, tmp_path / "tensor.onnx", zipmap=False)
    # upper-cased copies check the graph's lowercasing (StringNormalizer) as sklearn's
    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps({**it, "id": f"{it['id']}{s}", "text": f(it["text"])}) + "\n"
                              for it in ITEMS for s, f in (("", str), ("-up", str.upper))))
    result, rows = _run(write_config, tmp_path,
                        {"name": "zm", "kind": "onnx", "path": "zipmap.onnx", "batch_size": 7},
                        {"name": "tn", "kind": "onnx", "path": "tensor.onnx", "threshold": 0.4},
                        golden_set={"path": str(golden)})
    hate = list(pipeline.classes_).index("hate")
    for name in ("zm", "tn"):
        got = {i: r["scores"]["hate"] for i, r in rows[name].items()}
        assert len(got) == 24 and {r["outcome"] for r in rows[name].values()} == {"ok"}
        expected = pipeline.predict_proba(TEXTS)[:, hate]
        for suffix in ("", "-up"):
            np.testing.assert_allclose([got[it["id"] + suffix] for it in ITEMS], expected, atol=1e-5)
    assert all((r["label"] == "hate") == (r["scores"]["hate"] >= 0.4) for r in rows["tn"].values())
    described = {d["name"]: d for d in json.loads((result.run_dir / "manifest.json").read_text())["deciders"]}
    assert described["tn"]["classes"] == ["hate", "none"] and described["tn"]["output"] == "probabilities"
    assert described["zm"]["output"] == "output_probability"
    assert [loc["used"] for loc in described["zm"]["string_normalizer_locales"]] in (
        ["en_US.UTF-8"], ["C.UTF-8"], ["C.utf8"])


def test_hatesonar_shipped_model_runs_and_lowercases_as_trained(write_config, tmp_path):
    import onnx
    import onnxruntime as ort

    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps({**it, "id": f"{it['id']}{s}", "text": f(it["text"])}) + "\n"
                              for it in ITEMS for s, f in (("", str), ("-up", str.upper))))
    result, rows = _run(write_config, tmp_path,
                        {"name": "sonar", "kind": "onnx", "package": "hatesonar",
                         "resource": "model/model.onnx", "labels": {0: "hate", 1: "none", 2: "none"}},
                        golden_set={"path": str(golden)})
    assert len(rows["sonar"]) == 24 and {r["outcome"] for r in rows["sonar"].values()} == {"ok"}
    # reference: the same graph with its StringNormalizer replaced by Identity, fed lower-cased
    # text by Python (no locale involved), must give the same probabilities
    model_path = Path(ort.__file__).parents[1] / "hatesonar" / "model" / "model.onnx"
    model = onnx.load(str(model_path))
    node = next(n for n in model.graph.node if n.op_type == "StringNormalizer")
    node.op_type, node.domain = "Identity", ""
    del node.attribute[:]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probs = session.run(["output_probability"], {"text": np.array([t.lower() for t in TEXTS], dtype=object)})[0]
    for suffix in ("", "-up"):
        got = [rows["sonar"][it["id"] + suffix]["scores"]["hate"] for it in ITEMS]
        np.testing.assert_allclose(got, [p[0] for p in probs], atol=1e-6)
        assert [rows["sonar"][it["id"] + suffix]["scores"]["none"] for it in ITEMS] == pytest.approx(
            [p[1] + p[2] for p in probs], abs=1e-6)
    described = json.loads((result.run_dir / "manifest.json").read_text())["deciders"][0]
    assert described["model"] == str(model_path) and described["classes"] == ["0", "1", "2"]
    # the locale it chose lowercases letters beyond ASCII too (plain C would leave "É")
    (used,) = [loc["used"] for loc in described["string_normalizer_locales"]]
    lower = onnx.helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="LOWER",
                                  locale=used)
    io = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.STRING, [None]) for n in "xy"]
    graph = onnx.helper.make_model(onnx.helper.make_graph([lower], "g", io[:1], io[1:]),
                                   opset_imports=[onnx.helper.make_opsetid("", 10)], ir_version=8)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    assert list(session.run(None, {"x": np.array(["ÉCOLE Ça VA"], dtype=object)})[0]) == ["école ça va"]


def test_onnx_locale_that_is_not_installed_is_one_line(pipeline, write_config, cli_run, tmp_path):
    _to_onnx(pipeline, tmp_path / "m.onnx", zipmap=True)
    path = write_config(mini_config(deciders=[
        {"name": "o", "kind": "onnx", "path": "m.onnx", "locale": "xx_NOPE.UTF-8"}]))
    _one_error(cli_run("run", path, "--out", tmp_path / "runs"), f"{path}:{_line_of(path, 'locale:')}",
               "xx_NOPE.UTF-8", "not installed")


# --- python --------------------------------------------------------------------------------------

def _py(name: str, function: str, tmp_path: Path, **extra) -> dict:
    return {"name": name, "kind": "python", "callable": f"inhouse_model:{function}",
            "path": os.path.relpath(CLASSIFIERS, tmp_path), **extra}


def test_python_callable_outputs_dicts_numbers_and_rows(write_config, tmp_path):
    import sys

    sys.path.insert(0, str(CLASSIFIERS))
    try:
        import inhouse_model
    finally:
        sys.path.remove(str(CLASSIFIERS))
    result, rows = _run(write_config, tmp_path,
                        _py("dicts", "as_dicts", tmp_path, kwargs={"weight": 0.4},
                            labels={"HATE": "hate", "OK": "none"}),
                        _py("numbers", "as_numbers", tmp_path, threshold=0.3, batch_size=5),
                        _py("rows", "as_rows", tmp_path, classes=["none", "hate"]))
    assert result.exit_code == 0
    for name, weight, threshold in (("dicts", 0.4, None), ("numbers", 0.3, 0.3), ("rows", 0.3, None)):
        p = np.array([inhouse_model.hate_probability(t, weight) for t in TEXTS])
        np.testing.assert_allclose(_scores(rows[name], "hate"), p, atol=1e-6)
        hate = p >= threshold if threshold is not None else p >= 1 - p  # else: the most probable
        assert [rows[name][it["id"]]["label"] for it in ITEMS] == ["hate" if h else "none" for h in hate]
        assert len(set(hate)) == 2  # both labels occur, so the check can tell them apart


def test_python_wrong_length_and_raising_batches_are_error_outcomes(write_config, tmp_path):
    result, rows = _run(write_config, tmp_path,
                        _py("short", "one_short", tmp_path),
                        _py("flaky", "down_on_vermin", tmp_path, batch_size=4))
    assert result.exit_code == 3  # over the error budget, all files still written
    assert {r["outcome"] for r in rows["short"].values()} == {"error"} and len(rows["short"]) == 12
    assert {r["error"] for r in rows["short"].values()} == {
        "inhouse_model:one_short returned 11 outputs for 12 texts"}
    batches = [ITEMS[i:i + 4] for i in range(0, 12, 4)]
    failing = {it["id"] for b in batches if any("vermin" in it["text"] for it in b) for it in b}
    assert failing and len(failing) < 12
    assert {i for i, r in rows["flaky"].items() if r["outcome"] == "error"} == failing
    assert {rows["flaky"][i]["error"] for i in failing} == {
        "inhouse_model:down_on_vermin raised RuntimeError: model server down"}
    assert all(rows["flaky"][i]["outcome"] == "ok" for i in set(rows["flaky"]) - failing)


@pytest.mark.parametrize(("callable_", "needle"), [
    ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
    ("inhouse_model:missing", "has no 'missing'"),
    ("inhouse_model:NOT_A_FUNCTION", "is a int, not a function"),
])
def test_python_import_problems_are_config_errors_naming_the_line(callable_, needle, write_config,
                                                                  cli_run, tmp_path):
    path = write_config(mini_config(deciders=[
        {"name": "py", "kind": "python", "callable": callable_, "path": str(CLASSIFIERS)}]))
    _one_error(cli_run("validate", path), f"{path}:{_line_of(path, 'callable:')}", needle)


# --- precomputed ---------------------------------------------------------------------------------

def test_precomputed_multi_class_scores_and_old_single_numbers(write_config, tmp_path):
    policy = yaml.safe_load((REPO / "policies" / "hate_speech.yaml").read_text())
    policy.update(id="severity", labels=[{"name": n, "description": n} for n in ("severe", "mild", "none")],
                  violating=["severe", "mild"])
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "severity.yaml").write_text(yaml.safe_dump(policy))
    (policies / "hate_speech.yaml").write_text((REPO / "policies" / "hate_speech.yaml").read_text())
    rng = np.random.default_rng(5)
    items, expected = [], {}
    for i, it in enumerate(ITEMS):
        p = rng.dirichlet([1, 1, 1])
        gold = ["severe", "mild", "none"][i % 3]
        scores = {"severity": {"S": p[0], "M": p[1], "N": p[2]}, "hate_speech": float(p[0])}
        if i == 11:
            scores["severity"] = {"S": 1.7, "M": 0.0, "N": 0.0}  # not a probability: invalid
        items.append({**it, "labels": {"severity": gold, "hate_speech": it["labels"]["hate_speech"]},
                      "scores": {"prod": scores}})
        expected[it["id"]] = ["severe", "mild", "none"][int(np.argmax(p))]
    golden = tmp_path / "items.jsonl"
    golden.write_text("".join(json.dumps(it) + "\n" for it in items))
    result, rows = _run(write_config, tmp_path,
                        {"name": "prod", "kind": "precomputed", "scores": "prod", "policies": ["severity"],
                         "labels": {"S": "severe", "M": "mild", "N": "none"}},
                        {"name": "old", "kind": "precomputed", "scores": "prod", "policies": ["hate_speech"],
                         "threshold": 0.3},
                        golden_set={"path": str(golden)}, policies=["severity", "hate_speech"],
                        policies_dir=str(policies), slice_by=[])
    prod = {i: r for i, r in rows["prod"].items()}
    assert prod["m12"]["outcome"] == "invalid" and "1.7 is not a probability" in prod["m12"]["error"]
    assert {i: r["label"] for i, r in prod.items() if i != "m12"} == {
        i: lab for i, lab in expected.items() if i != "m12"}
    old = rows["old"]
    assert all(r["label"] == ("hate" if it["scores"]["prod"]["hate_speech"] >= 0.3 else "none")
               and r["confidence_source"] == "score" for it in items for r in [old[it["id"]]])
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    row = next(r for r in metrics["results"] if r["decider"] == "old" and r["slice"] is None)
    gold = [it["labels"]["hate_speech"] for it in items]
    assert row["accuracy"]["value"] == pytest.approx(
        accuracy_score(gold, [old[it["id"]]["label"] for it in items]))


# --- the example configs -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["profanity", "hatesonar"])
def test_example_configs_run_offline(name, tmp_path):
    result = run_eval(REPO / "configs" / f"{name}.yaml", out_dir=tmp_path, live_progress=False)
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    assert result.exit_code == 0 and len(rows) == 200 and {r["outcome"] for r in rows} == {"ok"}
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    row = next(r for r in metrics["results"] if r["slice"] is None)
    assert row["n"] == 200
    assert row["accuracy"]["value"] == pytest.approx(
        accuracy_score([r["gold"] for r in rows], [r["label"] for r in rows]))
    if name == "profanity":  # the decider's labels are the package's own predict_prob at 0.5
        from profanity_check import predict_prob

        items = {json.loads(line)["id"]: json.loads(line)["text"]
                 for line in (result.run_dir / "items.jsonl").read_text().splitlines()}
        ids = [r["item_id"] for r in rows]
        p = predict_prob([items[i] for i in ids])
        assert [r["label"] for r in rows] == ["offensive" if q >= 0.5 else "none" for q in p]
