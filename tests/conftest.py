"""Shared fixtures: repo paths, a config writer and a CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from evalharness import run_eval
from evalharness.cli import cli

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MINI = FIXTURES / "mini"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep caches and default outputs out of the user's folders."""
    monkeypatch.setenv("EVALHARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def mini_config(**overrides: Any) -> dict[str, Any]:
    """A config over the 12-item hand-made golden set, with all three built-in decider kinds."""
    config: dict[str, Any] = {
        "name": "mini",
        "golden_set": {"path": str(MINI / "items.jsonl")},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [
            {"name": "tfidf", "kind": "classic", "train": {"path": str(MINI / "train.jsonl")}},
            {"name": "raters", "kind": "human", "cost_per_hour_usd": 14.0, "seconds_per_item": 30},
        ],
        "slice_by": ["target"],
    }
    config.update(overrides)
    return config


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config (a dict, or raw YAML text) to a file and return its path."""

    def write(config: dict[str, Any] | str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        path.write_text(text)
        return path

    return write


@pytest.fixture
def cli_run():
    """Invoke the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# A run over a golden set whose texts, slice values and site names are hostile HTML/markdown,
# shared by the report, scorecard and HTML tests.
SOUTH = "south<script>alert(2)</script>"
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
           SOUTH, "</td></tr></table><h1>broken</h1>"]


def report_config() -> dict:
    return {
        "name": "report-fixture",
        "golden_set": {"path": str(FIXTURES / "report" / "items.jsonl")},
        "policies": ["hate_speech"],
        "policies_dir": str(REPO / "policies"),
        "deciders": [
            {"name": "tfidf", "kind": "classic", "train": {"path": str(MINI / "train.jsonl")}},
            {"name": "prod", "kind": "precomputed", "scores": "prod", "threshold": 0.5},
            {"name": "raters", "kind": "human", "cost_per_hour_usd": 36.0,
             "sites": {"north": ["a", "b"], SOUTH: ["c", "d"]},
             "site_cost_per_hour_usd": {"north": 18.0}},
        ],
        "slice_by": ["market"],
        "cache": {"enabled": False},
    }


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the fixture config (classic model, precomputed scores, human raters)."""
    folder = tmp_path_factory.mktemp("report-run")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(report_config(), sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALHARNESS_HOME", str(folder / "home"))
        result = run_eval(config, out_dir=folder / "runs", run_id="r1", live_progress=False)
    return result.run_dir
