"""Ordered severities and enforcement actions: checked when the policy is read; weighted κ
(compared with statsmodels' independent implementation) and under-/over-enforcement by action
(compared with a count from decisions.jsonl) in metrics.json and both reports; per-action
routing targets; and asymmetric error costs that the routing search ranks plans by."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from statsmodels.stats.inter_rater import cohens_kappa

from evalharness import run_eval
from evalharness.inputs.policies import load_policy
from evalharness.records.errors import PolicyError
from evalharness.records.targets import RoutingTargets
from evalharness.routing import build_policy_data
from evalharness.routing.cascades import Cascade, Step
from evalharness.routing.evaluation import evaluate_cascade
from evalharness.routing.goals import resolve_goals

from conftest import read_jsonl

ORDER = ["none", "mild", "severe"]
ACTIONS = {"none": "allow", "mild": "limit", "severe": "remove"}
POLICY = {
    "id": "abuse_levels", "version": "1", "owner": "tests", "description": "Abuse, by severity.",
    "labels": [{"name": "none"}, {"name": "mild"}, {"name": "severe"}],
    "violating": ["mild", "severe"],
    "severity": {"order": ORDER, "actions": ACTIONS},
    "prompt": {"system": "Rate the abuse in the item.", "user": "<item>\n{text}\n</item>\n"},
}
# gold x decided counts of one classifier (rows and columns in ORDER)
CONFUSION = [[40, 6, 2], [5, 20, 4], [1, 3, 19]]


def _policy_dir(tmp_path: Path, **change) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / "abuse_levels.yaml").write_text(yaml.safe_dump({**POLICY, **change}))
    return folder


def _items(tmp_path: Path) -> Path:
    rows, i = [], 0
    rng = np.random.default_rng(5)
    for g, counts in enumerate(CONFUSION):
        for d, n in enumerate(counts):
            for _ in range(n):
                p = rng.dirichlet([1, 1, 1]) * 0.4
                p[d] += 0.6  # decided = the most probable label
                rows.append({"id": f"x{i}", "text": f"item {i}", "labels": {"abuse_levels": ORDER[g]},
                             "meta": {"market": "my" if i % 2 else "id"},
                             "scores": {"clf": {"abuse_levels": dict(zip(ORDER, p.tolist()))}}})
                i += 1
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(tmp_path: Path, write_config):
    config = {"name": "severity", "golden_set": {"path": str(_items(tmp_path))},
              "policies": ["abuse_levels"], "policies_dir": str(_policy_dir(tmp_path)),
              "deciders": [{"name": "clf", "kind": "precomputed", "scores": "clf"}]}
    return run_eval(write_config(config), out_dir=tmp_path / "runs", live_progress=False)


def test_weighted_kappa_and_enforcement_rates_match_independent_counts(tmp_path, write_config):
    result = _run(tmp_path, write_config)
    row = next(r for r in json.loads((result.run_dir / "metrics.json").read_text())["results"]
               if r["slice"] is None)
    assert row["confusion"] == [[*c, 0, 0, 0] for c in CONFUSION]
    ordinal = row["ordinal"]
    table = np.array(CONFUSION)
    for wt in ("linear", "quadratic"):
        expected = cohens_kappa(table, wt=wt).kappa
        assert ordinal[f"weighted_kappa_{wt}"] == pytest.approx(expected, abs=1e-12)
    # under/over by gold action, counted from the decisions themselves
    rank = {label: ORDER.index(label) for label in ORDER}
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    for action in ordinal["by_action"]:
        mine = [r for r in rows if ACTIONS[r["gold"]] == action["action"]]
        under = sum(rank[r["label"]] < rank[r["gold"]] for r in mine)
        over = sum(rank[r["label"]] > rank[r["gold"]] for r in mine)
        assert action["n"] == len(mine)
        assert action["under"]["value"] == pytest.approx(under / len(mine))
        assert action["over"]["value"] == pytest.approx(over / len(mine))
    assert [a["action"] for a in ordinal["by_action"]] == ["allow", "limit", "remove"]
    assert ordinal["under"]["value"] == pytest.approx((5 + 1 + 3) / table.sum())
    assert ordinal["over"]["value"] == pytest.approx((6 + 2 + 4) / table.sum())
    report = (result.run_dir / "report.md").read_text()
    assert "### Severity and enforcement" in report
    assert "none (allow) < mild (limit) < severe (remove)" in report
    assert "Severity and enforcement" in (result.run_dir / "report.html").read_text()
    assert result.manifest.policies["abuse_levels"].actions == ACTIONS


@pytest.mark.parametrize("change, needle", [
    ({"severity": {"order": ["none", "mild"]}}, "every label once"),
    ({"severity": {"order": ORDER, "actions": {"none": "allow", "mild": "limit",
                                               "severe": "allow"}}}, "labels together"),
    ({"severity": {"order": ["mild", "none", "severe"]}}, "violating labels must be the most"),
    ({"severity": {"order": ORDER, "actions": {"none": "allow"}}}, "give every label an action"),
])
def test_a_bad_severity_is_refused_when_the_policy_is_read(tmp_path, change, needle):
    with pytest.raises(PolicyError, match=needle):
        load_policy(_policy_dir(tmp_path, **change) / "abuse_levels.yaml")


def test_per_action_targets_become_targets_of_each_label_of_the_action():
    targets = RoutingTargets.model_validate({
        "labels": {"mild": {"precision": 0.5, "recall": 0.7}},
        "actions": {"limit": {"precision": 0.9}, "remove": {"precision": 0.98}},
        "policies": {"abuse_levels": {"actions": {"remove": {"recall": 0.6}}}}})
    goals = resolve_goals(targets, "abuse_levels", actions=ACTIONS)
    assert goals.labels["mild"].model_dump() == {"precision": 0.9, "recall": 0.7}  # stricter
    assert goals.labels["severe"].model_dump() == {"precision": None, "recall": 0.6}
    assert "none" not in goals.labels


def test_route_names_every_action_target_as_a_claim_and_refuses_unknown_actions(
        tmp_path, write_config, cli_run):
    result = _run(tmp_path, write_config)
    good = tmp_path / "targets.yaml"
    good.write_text(yaml.safe_dump({"precision_target": 0.5, "recall_target": 0.5,
                                    "actions": {"remove": {"precision": 0.6}}}))
    routed = cli_run("route", result.run_dir, "--targets", good)
    assert routed.exit_code in (0, 1), routed.stderr
    plan = yaml.safe_load((result.run_dir / "routing.yaml").read_text())["policies"][0]["plan"]
    claims = [c["target"] for c in plan["target_checks"]]
    assert any("severe" in text and "precision" in text for text in claims), claims
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"actions": {"ban": {"precision": 0.98}}}))
    refused = cli_run("route", result.run_dir, "--targets", bad)
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert "no policy of this run has an enforcement action 'ban'" in refused.stderr


def _decisions(n: int, seed: int):
    from evalharness.records import Decision

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        gold = "hate" if rng.random() < 0.3 else "none"
        p = float(rng.beta(4, 2) if gold == "hate" else rng.beta(2, 4))
        rows.append(Decision(item_id=f"i{i}", policy="p", decider="clf", decider_kind="classic",
                             label="hate" if p >= 0.5 else "none", scores={"hate": p, "none": 1 - p},
                             outcome="ok", gold=gold, cost_usd=0.001))
        right = rng.random() < 0.97
        rows.append(Decision(item_id=f"i{i}", policy="p", decider="bpo", decider_kind="human",
                             label=gold if right else ("none" if gold == "hate" else "hate"),
                             outcome="ok", gold=gold, cost_usd=0.05, site="s"))
    return rows


def test_error_costs_are_the_count_of_each_error_times_its_price():
    rows = _decisions(2000, 1)
    data = build_policy_data(rows, policy="p", labels=["hate", "none"], violating=["hate"])
    cascade = Cascade((Step("clf", 0.8, 0.2),), "bpo")
    goals = resolve_goals(RoutingTargets(cost_of_false_negative=3.0, cost_of_false_positive=0.4), "p")
    priced = evaluate_cascade(data, cascade, goals)
    plain = evaluate_cascade(data, cascade, replace(goals, fn_cost=0.0, fp_cost=0.0))
    assert plain.error_cost_per_item_usd is None
    assert priced.cost_per_decision_usd == plain.cost_per_decision_usd  # decisions cost the same
    # an independent count: the plan's calls against gold
    by_item = {}
    for d in rows:
        by_item.setdefault(d.item_id, {})[d.decider] = d
    fn = fp = 0
    for item in by_item.values():
        p = item["clf"].scores["hate"]
        called = True if p >= 0.8 else False if p <= 0.2 else item["bpo"].label == "hate"
        fn += item["clf"].gold == "hate" and not called
        fp += item["clf"].gold == "none" and called
    assert priced.error_cost_per_item_usd == pytest.approx((3.0 * fn + 0.4 * fp) / len(by_item))


def test_a_costly_miss_moves_the_recommended_plan_to_higher_recall():
    from evalharness.routing import route_policy

    data = build_policy_data(_decisions(3000, 2), policy="p", labels=["hate", "none"],
                             violating=["hate"])
    base = {"precision_target": 0.6, "recall_target": 0.5, "auto_clear_max_violating": 0.3}
    cheap = route_policy(data, RoutingTargets.model_validate(base))
    costly = route_policy(data, RoutingTargets.model_validate(
        {**base, "cost_of_false_negative": 5.0}))
    assert cheap.plan.verdict == costly.plan.verdict == "guaranteed"
    recall = [p.plan.expected.violating_recall.value for p in (cheap, costly)]
    assert recall[1] > recall[0]
    assert costly.plan.expected.error_cost_per_item_usd is not None


def _severity_run(tmp_path: Path, write_config, seed: int, severe_precision: float):
    """A run of one classifier on a severity policy whose `severe` calls are right with
    ``severe_precision`` (the rest of them are `mild` items)."""
    rng = np.random.default_rng(seed)
    # a mild item is called severe with the chance that makes severe calls right that often
    mild_to_severe = 0.15 * (1 - severe_precision) / (0.25 * severe_precision)
    rows = []
    for i in range(1000):
        gold = str(rng.choice(ORDER, p=[0.6, 0.25, 0.15]))
        if gold == "severe":
            decided = "severe"
        elif gold == "mild":
            decided = "severe" if rng.random() < mild_to_severe else "mild"
        else:
            decided = "none" if rng.random() < 0.9 else "mild"
        p = rng.dirichlet([1, 1, 1]) * 0.3
        p[ORDER.index(decided)] += 0.7
        rows.append({"id": f"s{seed}-{i}", "text": "x", "labels": {"abuse_levels": gold},
                     "scores": {"clf": {"abuse_levels": dict(zip(ORDER, p.tolist()))}}})
    folder = tmp_path / f"seed{seed}"
    folder.mkdir()
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {"name": "sev", "golden_set": {"path": str(folder / "items.jsonl")},
              "policies": ["abuse_levels"], "policies_dir": str(_policy_dir(tmp_path)),
              "deciders": [{"name": "clf", "kind": "precomputed", "scores": "clf"}]}
    return run_eval(write_config(config, f"sev{seed}.yaml"), out_dir=folder / "runs",
                    live_progress=False)


@pytest.mark.slow
def test_a_per_action_target_is_guaranteed_only_where_it_holds(tmp_path, write_config):
    """Seeded simulation through run_eval + recommend_tiers: where `severe` calls (the `remove`
    action) are right 80% of the time, a `remove` precision target of 0.9 is reported as
    guaranteed in at most 5% of 100 seeds; where they are right every time, in most seeds."""
    from evalharness import recommend_tiers

    targets = {"precision_target": 0.5, "recall_target": None, "auto_clear_max_violating": None,
               "actions": {"remove": {"precision": 0.9}}}

    def guaranteed(seed: int, severe_precision: float) -> bool:
        run = _severity_run(tmp_path, write_config, seed, severe_precision)
        plan = recommend_tiers(run.run_dir, RoutingTargets.model_validate(targets)).policies[0]
        claim = next(c for c in plan.plan.target_checks if "severe" in c.target)
        return claim.verdict == "guaranteed"

    false = sum(guaranteed(seed, 0.8) for seed in range(100))
    assert false <= 5, f"{false} of 100 seeds guaranteed a remove precision that does not hold"
    found = sum(guaranteed(1000 + seed, 1.0) for seed in range(20))
    assert found >= 15
