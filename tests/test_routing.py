"""Tier routing: a cascade against a hand computation, one gold per set of tiers, production
prevalence, the "takes no cases" outcome, and ``evalharness route`` end to end on a real run.
The guarantees themselves are proven by simulation in ``test_guarantees.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from evalharness.records.errors import ConfigError, UsageError
from evalharness.records import Decision
from evalharness.routing import (
    Cascade,
    Step,
    build_policy_data,
    calibration_mask,
    evaluate_cascade,
    resolve_goals,
    route_policy,
    selection_confidence,
    simulate,
)
from evalharness.api.routing import load_targets, recommend_tiers
from evalharness.records.targets import CostOverrides, PolicyPrevalence, RoutingTargets

from conftest import mini_config

LABELS = ["hate", "none"]


def _draw(rng: np.random.Generator, n: int, a: float, b: float, prevalence: float):
    """Violating scores ~ Beta(a, b), non-violating ~ Beta(b, a), violating with ``prevalence``."""
    y = rng.random(n) < prevalence
    p = np.where(y, rng.beta(a, b, n), rng.beta(b, a, n))
    return p, y


def test_unscored_items_are_never_auto_decided():
    # non-ok decisions carry no score: a step with thresholds that would take every score escalates
    # them all, and the last tier decides them
    rows = []
    for i in range(30):
        gold = "hate" if i % 2 else "none"
        outcome = "invalid" if i % 3 == 0 else "ok"
        rows.append(_dec(f"u{i}", "clf", "classic", gold, gold, p=0.99 if gold == "hate" else 0.01,
                         outcome=outcome))
        rows.append(_dec(f"u{i}", "bpo", "human", gold, gold, cost=0.1, latency=30, site="A"))
    data = build_policy_data(rows, policy="hate_speech", labels=LABELS, violating=["hate"])
    cascade = Cascade((Step("clf", action=0.0, clear=1.0),), "bpo")
    view = data.for_tiers(cascade.tiers)
    sim = simulate(view, cascade)
    unscored = ~np.isfinite(view.deciders["clf"].p)
    assert unscored.sum() == 10
    assert (sim.tier[unscored] == 1).all() and (sim.tier[~unscored] == 0).all()


def test_selection_margin_and_split():
    assert selection_confidence(0.95, 0.8, 1.0) == pytest.approx(0.99770, abs=1e-4)
    assert selection_confidence(0.95, 0.5, 1.0) == pytest.approx(0.95, abs=1e-9)
    ids = [f"item{i}" for i in range(2000)]
    mask = calibration_mask(ids, share=0.5, seed=0)
    assert 0.45 < mask.mean() < 0.55
    # stable: same ids give the same split whatever their order; another seed another split
    assert list(calibration_mask(ids[::-1], share=0.5, seed=0)) == list(mask[::-1])
    assert (calibration_mask(ids, share=0.5, seed=1) != mask).any()


# ---------------------------------------------------------------------------------------------
# a cascade by hand
# ---------------------------------------------------------------------------------------------


def _dec(item, decider, kind, label, gold, *, p=None, outcome="ok", cost=0.0, latency=None,
         site=None, meta=None):
    scores = None if p is None else {"hate": p, "none": 1 - p}
    return Decision(item_id=item, policy="hate_speech", decider=decider, decider_kind=kind,
                    label=label if outcome == "ok" else None, scores=scores, outcome=outcome,
                    gold=gold, cost_usd=cost, latency_s=latency, site=site, meta=meta or {})


def _hand_example() -> list[Decision]:
    gold = {"i1": "hate", "i2": "none", "i3": "hate", "i4": "none", "i5": "hate", "i6": "none"}
    clf_p = {"i1": 0.95, "i2": 0.05, "i3": 0.50, "i4": 0.92, "i5": 0.30, "i6": 0.60}
    llm_p = {"i1": 0.9, "i2": 0.1, "i3": 0.85, "i4": 0.7, "i5": None, "i6": 0.40}
    human = {"i1": "hate", "i2": "none", "i3": "hate", "i4": "none", "i5": "hate", "i6": "hate"}
    seconds = {"i1": 30, "i2": 30, "i3": 30, "i4": 30, "i5": 30, "i6": 60}
    sites = {"i1": "A", "i2": "B", "i3": "A", "i4": "B", "i5": "A", "i6": "B"}
    rows = []
    for i, g in gold.items():
        rows.append(_dec(i, "clf", "classic", "hate" if clf_p[i] >= 0.5 else "none", g,
                         p=clf_p[i], cost=0.001))
        if llm_p[i] is None:
            rows.append(_dec(i, "llm", "llm", None, g, outcome="invalid", cost=0.01))
        else:
            rows.append(_dec(i, "llm", "llm", "hate" if llm_p[i] >= 0.5 else "none", g,
                             p=llm_p[i], cost=0.01))
        rows.append(_dec(i, "human", "human", human[i], g, cost=seconds[i] * 12 / 3600,
                         latency=seconds[i], site=sites[i]))
        rows.append(_dec(i, "human/r1", "human_rater", human[i], g, cost=1.0))  # ignored
    return rows


def test_cascade_matches_hand_computation():
    data = build_policy_data(_hand_example(), policy="hate_speech", labels=LABELS,
                             violating=["hate"])
    assert set(data.deciders) == {"clf", "llm", "human"}  # per-rater rows are not tiers
    cascade = Cascade((Step("clf", action=0.9, clear=0.1), Step("llm", action=0.8)), "human")
    goals = resolve_goals(RoutingTargets(), "hate_speech")
    m = evaluate_cascade(data, cascade, goals, daily_volume=1000)
    # Hand computation:
    # clf (every item, $0.001 each): P >= 0.9 auto-actions i1 (hate, right) and i4 (hate, wrong);
    #   P <= 0.1 auto-clears i2 (none, right); escalates i3, i5, i6.
    # llm ($0.01 each on i3, i5, i6): P >= 0.8 auto-actions i3 (hate, right); i5 is invalid (no
    #   score) so it is escalated, never auto-decided; i6 (P = 0.4) is escalated.
    # human: i5 -> hate (right, site A, 30 s, $0.10), i6 -> hate (wrong, site B, 60 s, $0.20).
    # Final: hate for i1 i3 i4 i5 i6, none for i2. Gold hate: i1 i3 i5.
    #   precision(hate) = 3/5 = 0.6, recall(hate) = 3/3 = 1
    #   precision(none) = 1/1 = 1,   recall(none) = 1/3 (i2 of i2 i4 i6)
    #   accuracy = 4/6 (i1 i2 i3 i5)
    # Cost = 6 x 0.001 + 3 x 0.01 + 0.10 + 0.20 = 0.336 in all -> 0.056 per item; x 1000 a day = 56.
    # Human time per item: A 30 s / 6 = 5 s, B 60 s / 6 = 10 s -> x 1000 / 3600 =
    #   1.3889 h and 2.7778 h a day, 4.1667 h in all.
    assert m.n == 6
    assert m.violating_precision.value == pytest.approx(0.6)
    assert m.violating_recall.value == pytest.approx(1.0)
    assert m.precision["none"].value == pytest.approx(1.0)
    assert m.recall["none"].value == pytest.approx(1 / 3)
    assert m.accuracy.value == pytest.approx(4 / 6)
    assert m.cost_per_decision_usd == pytest.approx(0.056)
    assert m.cost_per_day_usd == pytest.approx(56.0)
    assert m.human_hours_per_day["A"] == pytest.approx(5 * 1000 / 3600)
    assert m.human_hours_per_day["B"] == pytest.approx(10 * 1000 / 3600)
    assert m.human_hours_per_day["total"] == pytest.approx(15 * 1000 / 3600)
    clf, llm, human = m.tiers
    assert (clf.seen, clf.auto_action, clf.auto_clear) == pytest.approx((1.0, 2 / 6, 1 / 6))
    assert clf.decided.value == pytest.approx(3 / 6)
    assert (llm.seen, llm.auto_action, llm.auto_clear) == pytest.approx((3 / 6, 1 / 6, 0.0))
    assert llm.escalated_unscored == 1
    assert (human.seen, human.decided.value) == pytest.approx((2 / 6, 2 / 6))
    # baselines: all-human is right on 5 of 6 and costs (5 x 30 + 60) s x $12/h / 6 = $0.1167
    mh = evaluate_cascade(data, Cascade((), "human"), goals, daily_volume=1000)
    assert mh.accuracy.value == pytest.approx(5 / 6)
    assert mh.cost_per_decision_usd == pytest.approx(210 * 12 / 3600 / 6)
    # all-llm: i5 is invalid, so it is undecided: a miss for recall, never a prediction
    ml = evaluate_cascade(data, Cascade((), "llm"), goals, daily_volume=1000)
    assert ml.undecided == 1
    assert ml.violating_recall.value == pytest.approx(2 / 3)  # i1 i3 called hate; i5 undecided


def test_search_simulation_matches_the_reported_one():
    from evalharness.routing.cascades import simulate_lean

    data = build_policy_data(_synthetic_run(200), policy="hate_speech", labels=LABELS,
                             violating=["hate"])
    for cascade in [Cascade((), "bpo"), Cascade((Step("clf", 0.8, 0.2),), "bpo"),
                    Cascade((Step("smol", 0.9), Step("clf", None, 0.3)), "smol")]:
        view = data.for_tiers(cascade.tiers)
        full, lean = simulate(view, cascade), simulate_lean(view, cascade)
        assert (full.pred == lean.pred).all() and (full.gold == lean.gold).all()
        assert full.cost == pytest.approx(lean.cost)


def test_per_policy_overrides():
    targets = RoutingTargets.model_validate(
        {"recall_target": 0.8, "policies": {"spam": {"recall_target": "off",
                                                      "precision_target": 0.97}}})
    # a dumped and reloaded config (as in manifest.json) means the same
    for t in (targets, RoutingTargets.model_validate(targets.model_dump(mode="json"))):
        spam, hate = resolve_goals(t, "spam"), resolve_goals(t, "hate_speech")
        assert (spam.precision, spam.recall) == (0.97, None)
        assert (hate.precision, hate.recall) == (0.9, 0.8)


def test_cost_overrides_reprice_tiers():
    # site A at $36/h: i5's 30 s cost $0.30 instead of $0.10; the llm at $0.02 a call
    data = build_policy_data(_hand_example(), policy="hate_speech", labels=LABELS,
                             violating=["hate"],
                             costs=CostOverrides(decider_cost_usd={"llm": 0.02},
                                                 hourly_cost_usd={"A": 36.0}))
    cascade = Cascade((Step("clf", action=0.9, clear=0.1), Step("llm", action=0.8)), "human")
    m = evaluate_cascade(data, cascade, resolve_goals(RoutingTargets(), "hate_speech"))
    assert m.cost_per_decision_usd == pytest.approx((0.006 + 3 * 0.02 + 0.30 + 0.20) / 6)


# ---------------------------------------------------------------------------------------------
# targets nobody meets
# ---------------------------------------------------------------------------------------------


def _synthetic_run(n: int = 600, seed: int = 5) -> list[Decision]:
    """A good classifier, a useless LLM (scores unrelated to gold, some invalid), human raters."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        gold = "hate" if rng.random() < 0.35 else "none"
        good = rng.beta(5, 2) if gold == "hate" else rng.beta(2, 5)
        junk = rng.random()
        meta = {"market": "US" if i % 3 else "BR"}
        rows.append(_dec(f"s{i}", "clf", "classic", "hate" if good >= 0.5 else "none", gold,
                         p=float(good), meta=meta))
        if i % 10 == 0:
            rows.append(_dec(f"s{i}", "smol", "llm", None, gold, outcome="refusal", cost=0.0001,
                             meta=meta))
        else:
            rows.append(_dec(f"s{i}", "smol", "llm", "hate" if junk >= 0.5 else "none", gold,
                             p=float(junk), cost=0.0001, meta=meta))
        right = rng.random() < 0.97
        label = gold if right else ("none" if gold == "hate" else "hate")
        rows.append(_dec(f"s{i}", "bpo", "human", label, gold, cost=0.1, latency=30.0,
                         site="manila", meta=meta))
    return rows


def _route(targets: RoutingTargets, n: int = 2000):
    rows = _synthetic_run(n)
    data = build_policy_data(rows, policy="hate_speech", labels=LABELS, violating=["hate"])
    return route_policy(data, targets, slice_keys=["market"])


def test_useless_llm_takes_no_cases_and_good_classifier_does():
    r = _route(RoutingTargets(precision_target=0.85, recall_target=0.85,
                              auto_clear_max_violating=0.05))
    assert "the LLM tier (smol) should take no hate_speech cases at this target" in \
        r.tier_verdicts["smol"]
    assert not any(t.guaranteed for t in r.thresholds if t.decider == "smol")
    assert r.status == "plan_meets_targets", r.recommendation
    # the classifier takes cases, humans get the rest, and it is cheaper than all-human
    assert [t.decider for t in r.plan.tiers][0] == "clf"
    assert r.plan.tiers[-1].decider == "bpo"
    assert r.plan.verdict == "guaranteed" and r.plan.tested
    assert all(c.verdict == "guaranteed" for c in r.plan.claims())
    all_human = next(b for b in r.baselines if b.name == "all bpo")
    assert r.plan.expected.cost_per_decision_usd < all_human.expected.cost_per_decision_usd
    for tier in r.plan.tiers[:-1]:
        for chk in (tier.auto_action, tier.auto_clear):
            if chk is not None:
                assert chk.guaranteed and chk.claims
                for claim in chk.claims:  # every claim's estimate is on the right side
                    value = claim.value.value
                    assert value >= claim.required if claim.direction == "at_least" \
                        else value <= claim.required
                    assert claim.p_holm is not None and claim.p_holm <= claim.family_alpha
    assert r.family_wise["families"] == 3
    assert r.family_wise["family_alpha"] == pytest.approx(0.05 / 3)
    assert "Meets every target" in r.recommendation and "guaranteed" in r.recommendation
    assert "no production prevalence is stated" in r.recommendation
    assert r.qa_request.samples and r.qa_request.items_per_week > 0
    assert {s.key for s in r.slices} == {"market"}


@pytest.mark.parametrize("prevalence", [None, 0.1])
def test_cost_cut_against_all_human_is_the_share_the_machine_tier_takes(prevalence):
    # the classifier costs nothing and every reviewer decision $0.10, so the saving is the share
    # of items the classifier decides — as the cascade simulation reports it, at the same weights
    targets = RoutingTargets(precision_target=0.85, recall_target=0.85, auto_clear_max_violating=0.05,
                             prevalence={"hate_speech": prevalence} if prevalence else {})
    r = _route(targets)
    assert [t.decider for t in r.plan.tiers] == ["clf", "bpo"]
    metrics = r.plan.production if prevalence else r.plan.expected
    cut = r.cost_cut
    assert cut is not None and cut.versus == "bpo" and cut.n == r.plan.expected.n
    assert cut.human_cost_per_item_usd == pytest.approx(0.1)
    assert cut.cut.value == pytest.approx(1 - metrics.tiers[-1].seen, abs=1e-9)
    assert 0 < cut.cut.low < cut.cut.value < cut.cut.high < 1
    assert cut.cut.high - cut.cut.low < 0.2
    assert f"{cut.cut.value:.0%} [{cut.cut.low:.0%}, {cut.cut.high:.0%}] below all human " \
           "review (bpo)" in r.recommendation


def test_too_few_items_meet_only_on_the_point_estimate():
    # 150 items: the estimates clear the targets, but nothing can be guaranteed — said so
    r = _route(RoutingTargets(precision_target=0.8, recall_target=0.8), n=150)
    assert r.status == "plan_meets_on_point_estimate", r.recommendation
    assert r.plan.verdict == "meets_point_estimate"
    assert "meets every target on the point estimate only — not signable" in r.recommendation
    assert any(c.verdict == "meets_point_estimate" for c in r.plan.claims())
    assert not any(c.verdict == "misses" for c in r.plan.claims())


def test_unreachable_target_is_an_outcome_not_an_error():
    r = _route(RoutingTargets(precision_target=0.995, recall_target=0.995))
    assert r.status == "no_plan_meets_targets"
    assert "no plan meets every target" in r.recommendation
    for name in ("clf", "smol"):
        assert "should take no hate_speech cases at this target" in r.tier_verdicts[name]
    assert r.plan.tiers  # the closest plan is still described
    assert any(c.verdict == "misses" for c in r.plan.claims())


def test_production_prevalence_changes_what_can_be_signed():
    # The humans are 97% accurate. On this golden set (35% violating) all-human precision is
    # about 0.95; at a production prevalence of 2% the same reviewers' false positives swamp the
    # true ones, and routing must say so instead of signing golden-set precision.
    targets = RoutingTargets(precision_target=0.85, recall_target=0.85)
    golden = _route(targets)
    production = _route(RoutingTargets(precision_target=0.85, recall_target=0.85,
                                       prevalence={"hate_speech": 0.02}))
    human = next(b for b in production.baselines if b.name == "all bpo")
    assert human.expected.violating_precision.value > 0.9
    assert human.production is not None and human.production.violating_precision.value < 0.5
    assert human.production.violating_recall.value == human.expected.violating_recall.value
    assert production.prevalence == {"overall": 0.02, "slices": {}}
    assert "at the stated production prevalence (2.00% violating)" in production.recommendation
    claims = {c.target: c for c in production.plan.target_checks}
    assert claims["precision of violating calls >= 0.85"].prevalence == 0.02
    assert golden.status == "plan_meets_targets" and production.status != "plan_meets_targets"
    # volumes and cost follow the production mix: fewer items reach the reviewers
    assert human.production.violating_called < human.expected.violating_called


def test_one_gold_per_set_of_tiers():
    # The human tier is graded leave-one-out: where the other raters tied it has no gold. Plans
    # with the human tier leave those items out; plans without it keep them (QA gold).
    rows = _synthetic_run(300)
    tied = {f"s{i}" for i in range(0, 300, 5)}
    for d in rows:
        if d.decider == "bpo" and d.item_id in tied:
            d.gold = None
    data = build_policy_data(rows, policy="hate_speech", labels=LABELS, violating=["hate"])
    assert data.n == 300  # nothing is dropped for every tier
    machine, mixed = data.for_tiers(["clf", "smol"]), data.for_tiers(["clf", "bpo"])
    assert machine.n == 300 and mixed.n == 300 - len(tied)
    assert mixed.left_out == {"no gold independent of bpo's own rater (the other raters tied)":
                              len(tied)}
    r = route_policy(data, RoutingTargets(), slice_keys=[])
    by_name = {b.name: b for b in r.baselines}
    assert by_name["all clf"].items["used"] == 300
    assert by_name["all bpo"].items["used"] == 300 - len(tied)
    assert sum(by_name["all bpo"].items["left_out"].values()) == len(tied)


# ---------------------------------------------------------------------------------------------
# the CLI on a real run
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of the mini golden set: the embedded LLM, TF-IDF and the human raters."""
    from click.testing import CliRunner

    from evalharness.cli import cli

    tmp = tmp_path_factory.mktemp("route")
    config = mini_config(deciders=[{"name": "smollm2", "kind": "llm", "model": "embedded"},
                                   *mini_config()["deciders"]])
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALHARNESS_HOME", str(tmp / "home"))
        mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        mp.setenv("HF_HUB_OFFLINE", "1")
        result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp / "out"),
                                          "--run-id", "r1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp / "out" / "r1"


@pytest.mark.slow
def test_route_cli_end_to_end(real_run: Path, cli_run):
    result = cli_run("route", real_run, "--precision-target", "0.8", "--recall-target", "0.7",
                     "--daily-volume", "5000", "--seed", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == str(real_run / "routing.yaml")
    assert lines[0].startswith("hate_speech: ")
    assert "LLM tier (smollm2)" in result.stdout
    text = (real_run / "routing.yaml").read_text()
    doc = yaml.safe_load(text)
    assert next(iter(doc)) == "schema_version" and doc["schema_version"] == 2
    assert {"run_id", "status", "targets", "confidence", "seed", "split", "daily_volume",
            "policies"} <= doc.keys()
    assert doc["seed"] == 3 and doc["daily_volume"] == 5000
    assert doc["targets"]["precision_target"] == 0.8
    pol = doc["policies"][0]
    assert pol["policy"] == "hate_speech" and pol["violating"] == ["hate"]
    assert {"status", "recommendation", "plan", "baselines", "thresholds", "frontier", "slices",
            "qa_request", "items", "tier_verdicts", "prevalence", "golden_set_prevalence",
            "family_wise", "tried"} <= pol.keys()
    plan = pol["plan"]
    assert {"tiers", "expected", "production", "target_checks", "verdict", "items"} <= plan.keys()
    for check in plan["target_checks"]:
        assert check["verdict"] in ("guaranteed", "meets_point_estimate", "misses", "not_judged")
    assert {"cost_per_decision_usd", "cost_per_day_usd", "human_hours_per_day", "violating_precision",
            "violating_recall"} <= plan["expected"].keys()
    assert {b["name"] for b in pol["baselines"]} == {"all smollm2", "all tfidf", "all raters"}
    # per-rater rows are not tiers
    assert not any("/" in t["decider"] for t in pol["thresholds"])
    assert pol["items"]["calibration"] + pol["items"]["validation"] == pol["items"]["graded"]
    md = (real_run / "routing.md").read_text()
    assert md.startswith("# Routing plan") and "QA request" in md and "Sign-off" in md
    assert "No production prevalence is stated" in md and "Holm" in md


@pytest.mark.slow
def test_route_reads_targets_from_the_run_config_and_files(real_run: Path, cli_run, tmp_path):
    manifest_path = real_run / "manifest.json"
    original = manifest_path.read_text()
    try:
        manifest = json.loads(original)
        manifest["config"]["routing"] = {"precision_target": 0.75, "daily_volume": 1234}
        manifest_path.write_text(json.dumps(manifest))
        plan = recommend_tiers(real_run, write=False)
        assert plan.daily_volume == 1234 and plan.targets["precision_target"] == 0.75
        # flags override the config block
        plan = recommend_tiers(real_run, write=False, daily_volume=99)
        assert plan.daily_volume == 99 and plan.targets["precision_target"] == 0.75
        manifest["config"]["routing"] = {"precision_target": 2}
        manifest_path.write_text(json.dumps(manifest))
        result = cli_run("route", real_run)
        assert result.exit_code == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "routing.precision_target" in result.stderr
    finally:
        manifest_path.write_text(original)
    targets = tmp_path / "targets.yaml"
    targets.write_text("routing:\n  precision_target: 0.8\n  labels:\n    hate: {recall: 0.6}\n"
                       "  slices:\n    - {key: target, precision_target: 0.5}\n")
    loaded = load_targets(targets)
    assert loaded.labels["hate"].recall == 0.6
    result = cli_run("route", real_run, "--targets", targets)
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((real_run / "routing.yaml").read_text())
    checks = [c["target"] for c in doc["policies"][0]["plan"]["target_checks"]]
    assert "recall of hate >= 0.60" in checks


@pytest.mark.slow
@pytest.mark.parametrize("args, where", [
    (["--precision-target", "1.5"], "--precision-target"),
    (["--recall-target", "0"], "--recall-target"),
    (["--daily-volume", "-3"], "--daily-volume"),
    (["--decider", "nobody"], "nobody"),
    (["--targets", "MISSING.yaml"], "MISSING.yaml"),
    (["--targets", "BAD"], "precision_targt"),
])
def test_route_cli_bad_input_is_one_line_exit_2(real_run: Path, cli_run, tmp_path, args, where):
    bad = tmp_path / "bad.yaml"
    bad.write_text("precision_targt: 0.9\n")
    args = [str(bad) if a == "BAD" else str(tmp_path / a) if a == "MISSING.yaml" else a
            for a in args]
    result = cli_run("route", real_run, *args)
    assert result.exit_code == 2, result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and where in err[0], err
    assert "Traceback" not in result.output


def test_route_cli_not_a_run_folder(cli_run, tmp_path):
    result = cli_run("route", tmp_path)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "manifest.json" in result.stderr


def test_bad_targets_raise_typed_errors(tmp_path):
    with pytest.raises(ConfigError) as exc:
        bad = tmp_path / "t.yaml"
        bad.write_text("precision_target: 0.9\ncosts:\n  hourly_cost_usd: {A: -1}\n")
        load_targets(bad)
    assert "t.yaml" in str(exc.value)
    with pytest.raises(UsageError):
        from evalharness.api.routing import _apply_overrides

        _apply_overrides(RoutingTargets(), {"precision_target": 3})
    with pytest.raises(UsageError):
        from evalharness.api.routing import _apply_overrides

        _apply_overrides(RoutingTargets(), {"precision": 0.9})


def test_a_sampling_design_gives_estimates_never_guarantees():
    from evalharness.records.targets import SamplingDesign

    rows = _synthetic_run(2000)
    for d in rows:
        d.meta["source"] = "report" if int(d.item_id[1:]) % 2 else "random"
    data = build_policy_data(rows, policy="hate_speech", labels=LABELS, violating=["hate"])
    design = SamplingDesign(stratum="source", population_shares={"report": 0.1, "random": 0.9})
    r = route_policy(data, RoutingTargets(precision_target=0.85, recall_target=0.85),
                     sampling=design)
    assert r.status != "plan_meets_targets" and r.sampling["stratum"] == "source"
    assert all(c.verdict != "guaranteed" for c in r.plan.claims())
    assert r.plan.production is not None and r.plan.production.basis == "sampling"
    assert "estimates only: no exact test covers such weights" in r.recommendation
    # a stated prevalence takes precedence over the design, and can be guaranteed again
    r = route_policy(data, RoutingTargets(precision_target=0.85, recall_target=0.85),
                     sampling=design, prevalence=PolicyPrevalence(overall=0.35))
    assert r.sampling is None and r.status == "plan_meets_targets"
