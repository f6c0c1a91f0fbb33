"""Every bad-input path: one line naming file, line/row and field, exit code 2, no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import MINI, REPO, mini_config


def _assert_one_clean_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines), err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


def test_valid_config_passes(write_config, cli_run):
    result = cli_run("validate", write_config(mini_config()))
    assert result.exit_code == 0, result.output
    assert "12 items" in result.stdout


def test_unknown_key_names_file_line_and_field(write_config, cli_run):
    config = mini_config()
    config["slice_byy"] = ["target"]
    path = write_config(config)
    err = _assert_one_clean_error(cli_run("validate", path), str(path), "slice_byy", "unknown key")
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("slice_byy"))
    assert f"{path}:{line}: slice_byy" in err


def test_schema_and_decider_option_problems_come_together(write_config, cli_run):
    config = mini_config()
    config["slice_byy"] = ["target"]
    config["deciders"][1]["cost_per_hour"] = 3
    err = _assert_one_clean_error(cli_run("validate", write_config(config)),
                                  "slice_byy", "deciders.1.cost_per_hour")
    assert err.count("unknown key") == 2, err


def test_unknown_key_inside_a_decider(write_config, cli_run):
    config = mini_config()
    config["deciders"][1]["cost_per_hour"] = 3
    path = write_config(config)
    _assert_one_clean_error(cli_run("validate", path), "deciders.1.cost_per_hour", "unknown key")


def test_invalid_yaml_names_line(write_config, cli_run):
    path = write_config("name: mini\ngolden_set: [unclosed\npolicies: []\n")
    _assert_one_clean_error(cli_run("validate", path), f"{path}:3", "not valid YAML")


def test_missing_required_key(write_config, cli_run):
    config = mini_config()
    del config["golden_set"]
    _assert_one_clean_error(cli_run("validate", write_config(config)), "golden_set",
                            "required key is missing")


def test_every_problem_gets_its_own_line(write_config, cli_run):
    config = mini_config(typo_one=1, typo_two=2)
    err = _assert_one_clean_error(cli_run("validate", write_config(config)), "typo_one", "typo_two")
    assert len(err.strip().splitlines()) == 2


def test_unknown_decider_kind(write_config, cli_run):
    config = mini_config()
    config["deciders"][0]["kind"] = "magic"
    _assert_one_clean_error(cli_run("validate", write_config(config)), "deciders.0",
                            "unknown kind 'magic'", "classic")


def test_duplicate_decider_names(write_config, cli_run):
    config = mini_config()
    config["deciders"][1]["name"] = "tfidf"
    _assert_one_clean_error(cli_run("validate", write_config(config)), "repeated: ['tfidf']")


def test_decider_name_with_slash(write_config, cli_run):
    config = mini_config()
    config["deciders"][0]["name"] = "a/b"
    _assert_one_clean_error(cli_run("validate", write_config(config)), "deciders.0.name")


def test_decider_policy_not_in_config(write_config, cli_run):
    config = mini_config()
    config["deciders"][0]["policies"] = ["spam_scam"]
    _assert_one_clean_error(cli_run("validate", write_config(config)), "deciders.0.policies",
                            "'spam_scam'")


def test_sample_needs_n_or_fraction(write_config, cli_run):
    config = mini_config()
    config["golden_set"]["sample"] = {"seed": 1}
    _assert_one_clean_error(cli_run("validate", write_config(config)), "golden_set.sample",
                            "exactly one of n or fraction")


def test_filter_field_must_be_known(write_config, cli_run):
    config = mini_config()
    config["golden_set"]["filter"] = {"split": "test"}
    _assert_one_clean_error(cli_run("validate", write_config(config)), "golden_set.filter",
                            "meta.<key>")


def test_filter_keeping_nothing(write_config, cli_run):
    config = mini_config()
    config["golden_set"]["filter"] = {"meta.split": "nope"}
    _assert_one_clean_error(cli_run("validate", write_config(config)), "filter keeps no items")


def test_unknown_policy(write_config, cli_run):
    config = mini_config(policies=["hate_speeech"])
    _assert_one_clean_error(cli_run("validate", write_config(config)), "hate_speeech",
                            "hate_speech")  # the fix lists the known ids


def test_policy_without_gold_in_golden_set(write_config, cli_run):
    config = mini_config(policies=["hate_speech", "spam_scam"])
    _assert_one_clean_error(cli_run("validate", write_config(config)),
                            "no selected item has a gold label for policy spam_scam")


def test_missing_golden_set_file(write_config, cli_run, tmp_path):
    config = mini_config()
    config["golden_set"]["path"] = str(tmp_path / "nope.jsonl")
    _assert_one_clean_error(cli_run("validate", write_config(config)), "nope.jsonl", "file not found")


def test_relative_paths_resolve_against_the_config(write_config, cli_run, tmp_path):
    shutil.copy(MINI / "items.jsonl", tmp_path / "items.jsonl")
    config = mini_config()
    config["golden_set"]["path"] = "items.jsonl"
    assert cli_run("validate", write_config(config)).exit_code == 0


@pytest.mark.parametrize(
    "row, needles",
    [
        ('{"id": "x1", "labels": {}}', ["line 13", "text", "required field is missing"]),
        ("{not json", ["line 13", "not valid JSON"]),
        ('{"id": "m01", "text": "dup"}', ["line 13", "duplicate id 'm01'", "line 1"]),
        ('{"id": "x2", "text": "t", "labels": {"hate_speech": "hateful"}}',
         ["'hateful' is not a label of policy hate_speech", "labels.hate_speech", "['hate', 'none']"]),
    ],
)
def test_bad_golden_rows_name_file_and_line(row, needles, write_config, cli_run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text((MINI / "items.jsonl").read_text() + row + "\n")
    config = mini_config()
    config["golden_set"]["path"] = str(bad)
    err = _assert_one_clean_error(cli_run("validate", write_config(config)), "bad.jsonl")
    for needle in needles:
        assert needle.replace("line 13", f"{bad}:13") in err or needle in err, err


def test_bad_csv_row_names_its_line(write_config, cli_run, tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text("id,text,labels.hate_speech\na,hello,none\nb,,hate\n")
    config = mini_config(deciders=[{"name": "tfidf", "kind": "classic",
                                    "train": {"path": str(MINI / "train.jsonl")}}], slice_by=[])
    config["golden_set"]["path"] = str(csv)
    _assert_one_clean_error(cli_run("validate", write_config(config)), f"{csv}:3", "text")


def test_slice_key_absent_from_items(write_config, cli_run):
    path = write_config(mini_config(slice_by=["market"]))
    _assert_one_clean_error(cli_run("validate", path), "slice_by.0", "'market'", "target")


def test_classic_training_overlap_refused(write_config, cli_run):
    config = mini_config()
    config["deciders"][0]["train"]["path"] = str(MINI / "items.jsonl")
    _assert_one_clean_error(cli_run("validate", write_config(config)), "deciders.0.train",
                            "12 training item ids are also evaluated")


def test_classic_training_set_with_one_class(write_config, cli_run, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text("".join(
        json.dumps({"id": f"o{i}", "text": f"text {i}", "labels": {"hate_speech": "none"}}) + "\n"
        for i in range(5)))
    config = mini_config()
    config["deciders"][0]["train"]["path"] = str(one)
    _assert_one_clean_error(cli_run("validate", write_config(config)), "at least two classes")


def test_human_decider_needs_annotations(write_config, cli_run, tmp_path):
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(
        json.dumps({"id": r["id"], "text": r["text"], "labels": r["labels"], "meta": r["meta"]}) + "\n"
        for r in map(json.loads, (MINI / "items.jsonl").read_text().splitlines())))
    config = mini_config()
    config["golden_set"]["path"] = str(bare)
    _assert_one_clean_error(cli_run("validate", write_config(config)), "no rater annotations")


def test_human_decider_needs_handling_time(write_config, cli_run):
    config = mini_config()
    del config["deciders"][1]["seconds_per_item"]
    _assert_one_clean_error(cli_run("validate", write_config(config)), "seconds_per_item")


def test_missing_gguf_file(write_config, cli_run, tmp_path):
    config = mini_config()
    config["deciders"].append({"name": "llm", "kind": "llm", "gguf": str(tmp_path / "none.gguf")})
    _assert_one_clean_error(cli_run("validate", write_config(config)), "none.gguf",
                            "GGUF model file not found")


def _policy_dir(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    text = (REPO / "policies" / "hate_speech.yaml").read_text()
    (folder / "hate_speech.yaml").write_text(edit(text))
    return folder


@pytest.mark.parametrize(
    "edit, needles",
    [
        (lambda t: t.replace("{text}", "TEXT"), ["prompt", "{text} exactly once"]),
        (lambda t: t.replace("violating: [hate]", "violating: [hateful]"), ["violating", "hateful"]),
        (lambda t: t.replace("violating: [hate]", "violating: [hate, none]"),
         ["at least one label must be non-violating"]),
        (lambda t: t.replace("id: hate_speech", "id: hate"), ["hate_speech.yaml:1", "differs from the file name"]),
        (lambda t: t.replace("  - name: none", "  - name: None"), ["labels.1.name", "lower-case"]),
        (lambda t: t.replace("  - name: none", "  - name: error"), ["reserved"]),
        (lambda t: t + "extra_key: 1\n", ["extra_key", "unknown key"]),
        (lambda t: t.replace("  system: |", "  system: |\n    Item: {text}"), ["must not contain {text}"]),
    ],
)
def test_bad_policy_files(edit, needles, write_config, cli_run, tmp_path):
    folder = _policy_dir(tmp_path, edit)
    err = _assert_one_clean_error(
        cli_run("validate", write_config(mini_config(policies_dir=str(folder)))), "hate_speech.yaml")
    for needle in needles:
        assert needle in err, err


def test_bad_cli_flags(cli_run, write_config):
    path = write_config(mini_config())
    _assert_one_clean_error(cli_run("run", path, "--limit", "0"), "--limit")
    _assert_one_clean_error(cli_run("run", path, "--limit", "abc"), "--limit")
    _assert_one_clean_error(cli_run("run", path, "--bogus"), "--bogus")
    _assert_one_clean_error(cli_run("validate", "/nonexistent/config.yaml"), "config.yaml",
                            "file not found")


def test_report_on_a_folder_that_is_not_a_run(cli_run, tmp_path):
    _assert_one_clean_error(cli_run("report", tmp_path), "not a run folder")


def test_resume_without_an_earlier_run(cli_run, write_config, tmp_path):
    path = write_config(mini_config())
    _assert_one_clean_error(cli_run("run", path, "--resume", "--out", tmp_path / "res"),
                            "--resume", "no earlier run")


def test_existing_run_id_is_not_overwritten(cli_run, write_config, tmp_path):
    path = write_config(mini_config())
    out = tmp_path / "res"
    assert cli_run("run", path, "--out", out, "--run-id", "r1").exit_code == 0
    _assert_one_clean_error(cli_run("run", path, "--out", out, "--run-id", "r1"),
                            "--run-id", "already exists")


def test_resume_refuses_a_changed_config(cli_run, write_config, tmp_path):
    out = tmp_path / "res"
    assert cli_run("run", write_config(mini_config()), "--out", out, "--run-id", "r1").exit_code == 0
    changed = mini_config()
    changed["golden_set"]["sample"] = {"n": 5, "seed": 1}
    err = _assert_one_clean_error(
        cli_run("run", write_config(changed), "--out", out, "--run-id", "r1", "--resume"), "changed")
    assert "r1" in err


def test_unreadable_run_files_are_reported(cli_run, write_config, tmp_path):
    out = tmp_path / "res"
    assert cli_run("run", write_config(mini_config()), "--out", out, "--run-id", "r1").exit_code == 0
    decisions = out / "r1" / "decisions.jsonl"
    lines = decisions.read_text().splitlines()
    lines[2] = "{garbage"
    decisions.write_text("\n".join(lines) + "\n")
    _assert_one_clean_error(cli_run("report", out / "r1"), f"{decisions}:3", "not valid JSON")


EVAL_CONFIGS = [p for p in sorted((REPO / "configs").glob("*.yaml")) if "golden_set:" in p.read_text()]


@pytest.mark.parametrize("config", EVAL_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(config, cli_run):
    result = cli_run("validate", config)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("extra, needles", [
    ({"prevalence": {"hate_speech": 1.5}}, ["prevalence.hate_speech", "strictly between 0 and 1"]),
    ({"prevalence": {"spam_scam": 0.1}}, ["prevalence", "no policy ['spam_scam']"]),
    ({"prevalence": {"hate_speech": {"overall": 0.01, "slices": {"target": {"x": 0}}}}},
     ["prevalence.hate_speech.slices.target.x"]),
    ({"prevalence": {"hate_speech": 0.01},
      "sampling": {"stratum": "split", "population_shares": {"test": 1.0}}},
     ["either prevalence", "not both"]),
    ({"sampling": {"stratum": "split", "population_shares": {"test": 0.5, "dev": 0.4}}},
     ["sampling", "sum to 1"]),
    ({"sampling": {"stratum": "split", "population_shares": {"dev": 1.0}}},
     ["meta.split", "item m01", "population_shares does not list", "listed: ['dev']"]),
    ({"routing": {"prevalence": {"hate_speech": 0.01}}}, ["routing.prevalence", "top level"]),
])
def test_bad_prevalence_or_sampling_is_one_line(extra, needles, write_config, cli_run):
    _assert_one_clean_error(cli_run("validate", write_config(mini_config(**extra))), *needles)


def test_prevalence_and_sampling_validate(write_config, cli_run):
    for extra in ({"prevalence": {"hate_speech": {"overall": 0.01, "slices": {"target": {"x": 0.2}}}}},
                  {"sampling": {"stratum": "split", "population_shares": {"test": 1.0}}}):
        result = cli_run("validate", write_config(mini_config(**extra)))
        assert result.exit_code == 0, result.output
