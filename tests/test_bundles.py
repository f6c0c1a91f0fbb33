"""Policy bundles: one structured-output call per item answers several policies. Decisions stay
one row per item x policy, each with its exact share of the call's cost and tokens; the cache
holds one answer per item (a rerun or a resume pays nothing); a policy the answer lacks is
invalid alone; ``compare`` puts a bundled run beside an unbundled one; bad bundles are one clean
exit-2 line."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from evalharness import run_eval
from evalharness.deciders.parsing import parse_bundle_reply
from evalharness.testing.stub_server import StubServer

from conftest import REPO, read_jsonl

POLICIES = ["hate_speech", "harassment_abuse", "violence"]
PRICE = {"input_per_mtok": 0.15, "output_per_mtok": 0.6, "cached_input_per_mtok": 0.075}
TEXTS = ["I hate you all", "nice weather today", "I will kill the spider", "what a stupid idea",
         "selling my old bike", "great service, thanks"]


def _golden(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    rows = []
    for i, text in enumerate(TEXTS):
        bad = any(w in text for w in ("hate", "kill", "stupid"))
        labels = {"hate_speech": "hate" if bad else "none",
                  "harassment_abuse": "abuse" if bad else "none",
                  "violence": "violence" if bad else "none"}
        if i == 4:
            del labels["violence"]  # unknown gold: that policy's answer is not a decision
        rows.append(json.dumps({"id": f"i{i}", "text": text, "labels": labels}))
    path.write_text("\n".join(rows) + "\n")
    return path


def _config(tmp_path: Path, url: str, **decider) -> dict:
    return {"name": "bundles", "golden_set": {"path": str(_golden(tmp_path))},
            "policies": POLICIES, "policies_dir": str(REPO / "policies"),
            "bundles": {"core": POLICIES},
            "deciders": [{"name": "gpt", "kind": "llm", "model": "openai/stub", "api_base": url,
                          "price": PRICE, "structured_output": "json_schema", **decider}]}


def test_one_call_per_item_answers_every_policy_and_splits_its_cost_exactly(
        tmp_path, write_config):
    with StubServer() as server:
        single = run_eval(write_config(_config(tmp_path, server.url), "single.yaml"),
                          out_dir=tmp_path / "runs", run_id="single", live_progress=False)
        calls_single = server.stats()["completions"]
        bundled = run_eval(write_config(_config(tmp_path, server.url, bundle="core"),
                                        "bundled.yaml"),
                           out_dir=tmp_path / "runs", run_id="bundled", live_progress=False)
        calls_bundled = server.stats()["completions"] - calls_single
    assert calls_single == 17 and calls_bundled == len(TEXTS)  # 6 x 3 decisions, one unknown
    rows = read_jsonl(bundled.run_dir / "decisions.jsonl")
    assert len(rows) == 17 and all(r["bundle"] == "core" for r in rows)
    assert bundled.manifest.counts["model_calls_this_session"] == len(TEXTS)
    by_item = defaultdict(list)
    for r in rows:
        by_item[r["item_id"]].append(r)
    assert sorted(len(shares) for shares in by_item.values()) == [2, 3, 3, 3, 3, 3]
    for item, shares in by_item.items():  # i4 has no violence gold: its call is split in two
        usage = {key: sum(r["usage"][key] for r in shares) for key in shares[0]["usage"]}
        # the shares differ by at most one token and add up to the call's tokens and cost
        assert all(max(r["usage"][k] for r in shares) - min(r["usage"][k] for r in shares) <= 1
                   for k in usage)
        paid = ((usage["prompt_tokens"] - usage["cached_tokens"]) * 0.15
                + usage["cached_tokens"] * 0.075 + usage["completion_tokens"] * 0.6) / 1e6
        assert sum(r["cost_usd"] for r in shares) == pytest.approx(paid, rel=1e-12)
        assert len({r["latency_s"] for r in shares}) == 1  # the call's latency, on each
    # the stub decides each policy by the same rule either way: same labels, nothing flips
    label = {(r["item_id"], r["policy"]): r["label"] for r in rows}
    assert label == {(r["item_id"], r["policy"]): r["label"]
                     for r in read_jsonl(single.run_dir / "decisions.jsonl")}
    described = bundled.manifest.deciders[0]
    assert described["bundle"] == "core" and described["bundle_policies"] == POLICIES


def test_a_rerun_and_a_resume_are_served_from_one_cached_answer_per_item(tmp_path, write_config):
    with StubServer() as server:
        config = write_config(_config(tmp_path, server.url, bundle="core"))
        first = run_eval(config, out_dir=tmp_path / "runs", run_id="first", live_progress=False)
        again = run_eval(config, out_dir=tmp_path / "runs", run_id="again", live_progress=False)
        assert server.stats()["completions"] == len(TEXTS)
        assert again.manifest.counts["cached"] == 17
        # a run that lost part of an item's decisions (killed between writes) finishes from
        # the cache on --resume: nothing is asked twice
        log = first.run_dir / "decisions.jsonl"
        lines = log.read_text().splitlines(keepends=True)
        log.write_text("".join(lines[:-2]))
        resumed = run_eval(config, out_dir=tmp_path / "runs", run_id="first", resume=True,
                           live_progress=False)
        assert server.stats()["completions"] == len(TEXTS)
    assert len(read_jsonl(resumed.run_dir / "decisions.jsonl")) == 17


def test_compare_shows_what_bundling_does_to_quality_and_cost(tmp_path, write_config, cli_run):
    with StubServer() as server:
        for run_id, extra in (("a", {}), ("b", {"bundle": "core"})):
            run_eval(write_config(_config(tmp_path, server.url, **extra), f"{run_id}.yaml"),
                     out_dir=tmp_path / "runs", run_id=run_id, live_progress=False)
    result = cli_run("compare", tmp_path / "runs" / "a", tmp_path / "runs" / "b", "--json",
                     tmp_path / "cmp.json")
    assert result.exit_code == 0, result.stderr
    assert ("decider gpt is asked differently: one call per policy → bundle core (one call per "
            "item)") in result.stdout
    compared = json.loads((tmp_path / "cmp.json").read_text())
    assert {p["policy"] for p in compared["policies"]} == set(POLICIES)


@pytest.mark.parametrize("response, policy, mode, outcome, label", [
    ('{"hate_speech": {"label": "hate", "confidence": 0.8}, "violence": {"label": "none", '
     '"confidence": 0.6}}', "violence", "json_schema", "ok", "none"),
    ('```json\n{"hate_speech": {"label": "hate", "confidence": 0.8}}\n```', "hate_speech",
     "json_object", "ok", "hate"),
    ('{"hate_speech": {"label": "hate", "confidence": 0.8}}', "violence", "json_schema",
     "invalid", None),
    ('{"violence": {"label": "gore", "confidence": 0.8}}', "violence", "json_schema", "invalid",
     None),
    ("hate_speech: hate\nviolence: none", "violence", "text", "ok", "none"),
    ("hate_speech: hate", "violence", "text", "invalid", None),
    ("I'm sorry, but I can't help with that.", "violence", "json_schema", "refusal", None),
])
def test_each_policy_is_read_from_the_bundled_answer_on_its_own(response, policy, mode, outcome,
                                                                label):
    labels = {"hate_speech": ["hate", "none"], "violence": ["violence", "none"]}[policy]
    parsed = parse_bundle_reply({"text": response}, policy, labels, mode)
    assert (parsed.outcome, parsed.label) == (outcome, label)
    if outcome == "invalid":
        assert policy in parsed.error


def test_confidence_comes_from_the_label_token_of_its_own_policy():
    text = ('{"hate_speech": {"label": "hate", "confidence": 0.5}, '
            '"violence": {"label": "none", "confidence": 0.5}}')
    tokens, offset = [], 0
    for piece in ('{"hate_speech": {"label": "', "hate", '", "confidence": 0.5}, "violence": '
                  '{"label": "', "none", '", "confidence": 0.5}}'):
        top = {"hate": [["hate", -0.1], ["none", -2.4]],
               "none": [["none", -0.7], ["violence", -0.7]]}.get(piece, [[piece, 0.0]])
        tokens.append({"token": piece, "logprob": top[0][1], "top": top})
        offset += len(piece)
    parsed = parse_bundle_reply({"text": text, "logprobs": tokens}, "violence",
                                ["violence", "none"], "json_schema")
    assert parsed.confidence_source == "logprobs"
    assert parsed.confidence == pytest.approx(0.5)  # the violence token's alternatives, not hate's


@pytest.mark.parametrize("change, needle", [
    ({"deciders.bundle": "nope"}, "no bundle 'nope'"),
    ({"deciders.policies": ["hate_speech"]}, "drop policies:"),
    ({"deciders.prompt_variants": ["default", "terse"]}, "drop prompt_variants"),
    ({"bundles": {"core": ["hate_speech"]}}, "at least two different policies"),
    ({"bundles": {"core": ["hate_speech", "spam_scam"]}}, "not in this config's policies"),
])
def test_a_bad_bundle_is_one_clean_error(tmp_path, write_config, cli_run, change, needle):
    config = _config(tmp_path, "http://127.0.0.1:9/v1", bundle="core")
    for key, value in change.items():
        if key.startswith("deciders."):
            config["deciders"][0][key.split(".", 1)[1]] = value
        else:
            config[key] = value
    result = cli_run("validate", write_config(config))
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and needle in lines[0]


def test_policies_that_show_the_item_differently_cannot_share_a_call(tmp_path, write_config,
                                                                    cli_run):
    folder = tmp_path / "policies"
    folder.mkdir()
    for pid in POLICIES:
        text = (REPO / "policies" / f"{pid}.yaml").read_text()
        if pid == "violence":
            text = text.replace("    <item>\n    {text}\n    </item>\n",
                                "    Message:\n    <item>\n    {text}\n    </item>\n")
        (folder / f"{pid}.yaml").write_text(text)
    config = _config(tmp_path, "http://127.0.0.1:9/v1", bundle="core")
    config["policies_dir"] = str(folder)
    result = cli_run("validate", write_config(config))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "violence's prompt.user differs from hate_speech's" in result.stderr


@pytest.mark.slow
def test_the_embedded_model_answers_a_bundle_in_one_pass_per_item(tmp_path, write_config):
    config = {"name": "bundles", "golden_set": {"path": str(_golden(tmp_path))},
              "policies": POLICIES[:2], "policies_dir": str(REPO / "policies"),
              "bundles": {"two": POLICIES[:2]}}
    config["deciders"] = [{"name": "tiny", "kind": "llm", "model": "embedded", "bundle": "two",
                           "compute_cost_per_hour_usd": 3.6}]
    path = write_config(config)
    first = run_eval(path, out_dir=tmp_path / "runs", run_id="first", limit=3,
                     live_progress=False)
    rows = read_jsonl(first.run_dir / "decisions.jsonl")
    assert first.manifest.counts["model_calls_this_session"] == 3 and len(rows) == 6
    for r in rows:
        assert r["bundle"] == "two" and r["confidence_source"] == "logprobs"
        assert sum(r["scores"].values()) == pytest.approx(1.0)
        assert r["label"] == max(r["scores"], key=r["scores"].get)
        assert r["cost_usd"] == pytest.approx(3.6 * r["latency_s"] / 3600 / 2)
    second = [r for r in rows if r["item_id"] != rows[0]["item_id"]]
    assert any(r["usage"]["cached_tokens"] > 0 for r in second)  # the bundle prefix is reused
    again = run_eval(path, out_dir=tmp_path / "runs", run_id="again", limit=3,
                     live_progress=False)
    assert again.manifest.counts["cached"] == 6
    assert again.manifest.counts["model_calls_this_session"] == 0


def test_the_report_says_which_policies_shared_a_call(tmp_path, write_config):
    with StubServer() as server:
        result = run_eval(write_config(_config(tmp_path, server.url, bundle="core")),
                          out_dir=tmp_path / "runs", live_progress=False)
    report = (result.run_dir / "report.md").read_text()
    assert report.count("gpt was asked this policy in bundle core, with 2 other policies in one "
                        "call per item; its cost per decision is 1/3 of that call.") == 3
    assert "asked this policy in bundle core" in (result.run_dir / "report.html").read_text()


def test_a_bundle_may_show_the_item_its_own_way_and_items_must_have_what_it_shows(
        tmp_path, write_config, cli_run):
    config = _config(tmp_path, "", bundle="core")
    config["bundles"] = {"core": {"policies": POLICIES, "user": "Shop {meta.shop}:\n<item>\n"
                                                               "{fields.title}\n</item>\n"}}
    result = cli_run("validate", write_config(config))
    assert result.exit_code == 2, result.stdout
    assert "has no fields.title, which bundle core's user shows ({fields.title})" in result.stderr
    golden = Path(config["golden_set"]["path"])
    rows = [json.loads(line) for line in golden.read_text().splitlines()]
    golden.write_text("".join(json.dumps({**r, "fields": {"title": r["text"].upper()},
                                          "meta": {"shop": "s1"}}) + "\n" for r in rows))
    with StubServer() as server:
        config["deciders"][0]["api_base"] = server.url
        run = run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)
        shown = server.stats()["texts"]
    assert run.manifest.counts["ok"] == 17
    assert sorted(shown)[0].startswith("Shop s1:\n<item>\nGREAT SERVICE, THANKS\n</item>")
    bad = _config(tmp_path, "", bundle="core")
    bad["bundles"] = {"core": {"policies": POLICIES, "user": "{title}"}}
    refused = cli_run("validate", write_config(bad))
    assert refused.exit_code == 2 and "{title}, which is no part of an item" in refused.stderr
