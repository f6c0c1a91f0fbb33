"""A third-party decider kind, installed as a package, runs from a config like a built-in one.

The plugin (tests/fixtures/plugin) is pip-installed, editable, from a temporary copy — no index,
no build isolation, so nothing is downloaded — and uninstalled afterwards. Runs go through the
CLI in a fresh interpreter, which is how a user meets the plugin's entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from evalharness.deciders import DeciderOptions, decider
from evalharness.deciders.registry import ENTRY_POINT_GROUP, decider_kind, decider_kinds

from conftest import FIXTURES, MINI, mini_config, read_jsonl

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
PACKAGE = "evalharness-echo-plugin"


@pytest.fixture(scope="module")
def echo_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("plugin") / "echo"
    shutil.copytree(FIXTURES / "plugin", source)
    subprocess.run([*PIP, "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation",
                    "-e", str(source)], check=True, capture_output=True, timeout=300)
    try:
        yield source
    finally:
        subprocess.run([*PIP, "uninstall", "--yes", PACKAGE], check=True, capture_output=True,
                       timeout=120)


def test_built_in_kinds_register_through_the_entry_point_group():
    ours = {e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)
            if e.value.startswith("evalharness.")}
    assert ours == {kind: f"evalharness.deciders.{kind}"
                    for kind in ("classic", "embedding", "ensemble", "http", "human", "llm", "onnx",
                                 "precomputed", "python", "sklearn")}
    assert set(decider_kinds()) >= set(ours)
    assert all(decider_kind(kind).source == module for kind, module in ours.items())


def test_an_options_model_must_name_its_kind():
    class Loose(BaseModel):
        kind: str

    class Mislabelled(DeciderOptions):
        kind: str

    for options in (Loose, Mislabelled):
        with pytest.raises(TypeError, match='kind: Literal\\["x"\\]'):
            decider("x", options=options)  # type: ignore[arg-type]


def test_a_kind_cannot_be_taken_over_by_another_module():
    from typing import Literal

    class ClassicAgain(DeciderOptions):
        kind: Literal["classic"]

    def make(options, run_config):  # this test module is not the one that registered "classic"
        raise AssertionError("never built")

    with pytest.raises(TypeError, match="already registered by evalharness.deciders.classic"):
        decider("classic", options=ClassicAgain)(make)
    assert decider_kind("classic").source == "evalharness.deciders.classic"
    with pytest.raises(TypeError, match="must subclass DeciderOptions"):
        decider("x", options=42)  # type: ignore[arg-type]


def _evalharness(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
           "EVALHARNESS_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "evalharness", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def _config(tmp_path: Path, echo: dict) -> Path:
    config = mini_config(deciders=[
        {"name": "tfidf", "kind": "classic", "train": {"path": str(MINI / "train.jsonl")}},
        {"name": "always_hate", "kind": "echo", **echo},
    ])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_an_installed_plugin_kind_runs_from_a_config(echo_plugin, tmp_path):
    config = _config(tmp_path, {"label": "hate", "cost_per_decision_usd": 0.001})
    result = _evalharness("run", config, "--out", tmp_path / "results", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    rows = [r for r in read_jsonl(run / "decisions.jsonl") if r["decider"] == "always_hate"]
    assert len(rows) == 12 and {(r["label"], r["decider_kind"]) for r in rows} == {("hate", "echo")}
    metrics = json.loads((run / "metrics.json").read_text())
    row = next(r for r in metrics["results"] if r["decider"] == "always_hate" and r["slice"] is None)
    # the mini set has 6 hate and 6 none items: "hate" for all is right on 6 of 12, recalls every
    # hate item and costs $0.001 a decision
    assert row["accuracy"]["value"] == 0.5 and row["recall"]["hate"]["value"] == 1.0
    assert row["cost_per_decision_usd"] == pytest.approx(0.001)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["deciders"][1] == {"name": "always_hate", "policies": None,
                                                 "kind": "echo", "label": "hate",
                                                 "cost_per_decision_usd": 0.001}


def test_a_plugin_kind_is_checked_with_its_own_options_model(echo_plugin, tmp_path):
    config = _config(tmp_path, {"label": "hate", "lable": "oops"})
    result = _evalharness("validate", config, cwd=tmp_path)
    assert result.returncode == 2
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "lable" in text)
    assert result.stderr.strip().splitlines() == [
        f"error: {config}:{line}: deciders.1.lable: unknown key (did you mean `label`? "
        "Or remove it)"]
    # and the plugin's own check() sees the policy
    result = _evalharness("validate", _config(tmp_path, {"label": "spam"}), cwd=tmp_path)
    assert result.returncode == 2 and "policy hate_speech has no label 'spam'" in result.stderr


def test_the_schema_lists_the_plugin_kind(echo_plugin, tmp_path):
    result = _evalharness("schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$defs"]["EchoOptions"]["properties"]["label"]["description"] == \
        "The label every item gets."
