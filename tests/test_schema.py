"""The config reference and JSON Schema come from the config models and stay in step with them."""

from __future__ import annotations

import json

from evalharness.api import config_reference_markdown

from conftest import REPO


def test_committed_config_reference_is_current():
    committed = (REPO / "docs" / "config-reference.md").read_text()
    assert committed == config_reference_markdown(), (
        "docs/config-reference.md is stale: run `evalharness schema --markdown > docs/config-reference.md`")


def test_schema_command_prints_json_schema_with_field_docs(cli_run):
    result = cli_run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    llm = schema["$defs"]["LlmDeciderConfig"]["properties"]
    assert "never the key itself" in llm["api_key_env"]["description"]
    assert set(schema["$defs"]) >= {"GoldenSetSpec", "ClassicDeciderConfig", "HumanDeciderConfig"}
