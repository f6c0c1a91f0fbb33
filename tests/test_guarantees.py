"""Every claim people sign, proven by seeded simulation through the public API.

* Routing (``run_eval`` + ``recommend_tiers`` on precomputed scores): in a world where no plan can
  reach the precision target, at most 5% of seeds report a plan — or a first-tier threshold — as
  guaranteed; in a world where one can, it is found in at least 80% of seeds. With one decider and
  with several.
* Production prevalence (``build_metrics``): the weighted precision interval of an enriched golden
  set covers the population's precision in at least 93% of draws.
* The gate (``compare_decisions`` + ``check_gate`` with the shipped ``configs/gate.yaml`` at the
  shipped ``configs/ci-gate.yaml`` size): a 5-point accuracy drop fails in at least 80% of draws,
  a 15-point drop in all, and an unchanged model passes in at least 80%.

The worlds make "no plan can reach the target" exact: every decider sees only a latent class A
of each item (and noise independent of gold); gold is violating with probability ``q1`` where A
holds and 1% where it does not, so no set of calls any decider (or cascade of them) can make has
precision above ``q1``. The classifier separates A almost perfectly, so with ``q1 = 0.88`` its
precision sits just under the 0.90 target — where choosing on point estimates is fooled often.
Seeds run two at a time (the machine has two cores).
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

from evalharness import build_metrics, compare_decisions, load_gate, recommend_tiers, run_eval
from evalharness.gating.gate import check_gate
from evalharness.records import Decision, GoldenSetInfo, Manifest, PolicyInfo
from evalharness.records.targets import PolicyPrevalence

from conftest import REPO

PRECISION, RECALL = 0.9, 0.8
ITEMS = 1000


def _world(folder: Path, seed: int, *, q1: float, several: bool) -> Path:
    """A golden set and config: precomputed scorers (and human raters when ``several``)."""
    rng = np.random.default_rng(seed)
    a = rng.random(ITEMS) < 0.3
    gold = np.where(a, rng.random(ITEMS) < q1, rng.random(ITEMS) < 0.01)
    scores = {"clf": np.where(a, rng.beta(20, 2, ITEMS), rng.beta(2, 20, ITEMS)),
              "llm": np.where(a, rng.beta(5, 3, ITEMS), rng.beta(3, 5, ITEMS)),
              "rules": np.where(a, rng.beta(4, 3, ITEMS), rng.beta(3, 4, ITEMS))}
    human = np.where(rng.random(ITEMS) < 0.97, a, ~a)
    with open(folder / "items.jsonl", "w") as fh:
        for i in range(ITEMS):
            item = {"id": f"w{i}", "text": f"item {i}",
                    "labels": {"hate_speech": "hate" if gold[i] else "none"},
                    "scores": {k: {"hate_speech": float(v[i])} for k, v in scores.items()}}
            if several:
                item["annotations"] = [{"rater": f"r{i % 20}", "seconds": 30,
                                        "labels": {"hate_speech": "hate" if human[i] else "none"}}]
            fh.write(json.dumps(item) + "\n")
    deciders = [{"name": "clf", "kind": "precomputed", "scores": "clf",
                 "cost_per_decision_usd": 0.0001}]
    if several:
        deciders += [{"name": "llm", "kind": "precomputed", "scores": "llm",
                      "cost_per_decision_usd": 0.001},
                     {"name": "rules", "kind": "precomputed", "scores": "rules"},
                     {"name": "raters", "kind": "human", "cost_per_hour_usd": 14.0}]
    config = {"name": "world", "golden_set": {"path": str(folder / "items.jsonl")},
              "policies": ["hate_speech"], "policies_dir": str(REPO / "policies"),
              "deciders": deciders, "cache": {"enabled": False},
              "routing": {"precision_target": PRECISION, "recall_target": RECALL}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _route_world(args: tuple[int, float, bool]) -> dict[str, object]:
    seed, q1, several = args
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["EVALHARNESS_HOME"] = str(folder / "home")
        config = _world(folder, seed, q1=q1, several=several)
        result = run_eval(config, out_dir=folder / "runs", run_id="r", live_progress=False)
        policy = recommend_tiers(result.run_dir, write=False).policies[0]
    # every precision claim the user sees: the recommended (or closest) plan's, and the first-tier
    # thresholds' — in this world each is false, so none may be guaranteed
    shown = [*policy.plan.claims(), *(c for t in policy.thresholds for c in t.claims)]
    guaranteed_precision = [c for c in shown if c.verdict == "guaranteed"
                            and c.target.startswith("precision")]
    naive = any((f.violating_precision or 0) >= PRECISION and (f.violating_recall or 0) >= RECALL
                for f in policy.frontier)
    return {"status": policy.status, "precision_claims": len(guaranteed_precision),
            "naive": naive}


def _simulate(seeds: int, q1: float, several: bool) -> list[dict[str, object]]:
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_route_world, [(s, q1, several) for s in range(seeds)]))


@pytest.mark.slow
@pytest.mark.timeout(1200)  # hundreds of seeded runs: ~3 min quiet, much more on a loaded machine
@pytest.mark.parametrize("several", [False, True], ids=["one decider", "four deciders"])
def test_no_false_guarantee_where_no_plan_can_reach_the_target(several: bool):
    # True precision of any plan is at most 0.88 < 0.90. 200 seeds at confidence 0.95: the share
    # of seeds with any guaranteed claim must stay at most 5% (it is ~0% here: Holm within each
    # plan, Bonferroni across the plans checked and the first-tier thresholds, exact tests).
    out = _simulate(200, 0.88, several)
    false = sum(r["status"] == "plan_meets_targets" or r["precision_claims"] > 0 for r in out)
    assert false <= 0.05 * len(out), f"{false} of {len(out)} seeds claimed a guarantee"
    # the world is hard: choosing on calibration point estimates would claim in many seeds
    naive = sum(bool(r["naive"]) for r in out)
    assert naive >= 0.2 * len(out), f"only {naive} seeds would fool a point-estimate rule"


@pytest.mark.slow
@pytest.mark.timeout(1200)  # hundreds of seeded runs: ~3 min quiet, much more on a loaded machine
@pytest.mark.parametrize("several", [False, True], ids=["one decider", "four deciders"])
def test_a_plan_that_can_meet_the_targets_is_found(several: bool):
    # Gold follows A in 99.5% of items and the classifier separates A well: plans exist with
    # precision and recall well above target. 100 seeds: at least 80% must be guaranteed.
    out = _simulate(100, 0.995, several)
    found = sum(r["status"] == "plan_meets_targets" for r in out)
    assert found >= 0.8 * len(out), f"found in only {found} of {len(out)} seeds"


# ---------------------------------------------------------------------------------------------
# production prevalence
# ---------------------------------------------------------------------------------------------


def _decisions(labels: list[tuple[str, str]], decider: str = "clf") -> list[Decision]:
    return [Decision(item_id=f"i{i}", policy="hate_speech", decider=decider,
                     decider_kind="classic", label=label, outcome="ok", gold=gold)
            for i, (gold, label) in enumerate(labels)]


@pytest.mark.slow
def test_weighted_precision_interval_covers_the_population_precision():
    # Population: 1% violating; the classifier catches 85% of violating items and flags 4% of
    # the others, so its population precision is 0.01*0.85 / (0.01*0.85 + 0.99*0.04) = 0.1767.
    # Each draw: an enriched golden set of 300 violating and 700 other items (30%).
    tpr, fpr, p = 0.85, 0.04, 0.01
    truth = p * tpr / (p * tpr + (1 - p) * fpr)
    rng = np.random.default_rng(11)
    covered, naive_covered, draws = 0, 0, 500
    for _ in range(draws):
        hits, flags = rng.random(300) < tpr, rng.random(700) < fpr
        rows = [("hate", "hate" if h else "none") for h in hits]
        rows += [("none", "hate" if f else "none") for f in flags]
        metrics = build_metrics("r", _decisions(rows), {"hate_speech": ["hate", "none"]},
                                violating={"hate_speech": ["hate"]},
                                prevalence={"hate_speech": PolicyPrevalence(overall=p)})
        row = metrics.results[0]
        iv = row.production.violating_precision
        covered += iv.low <= truth <= iv.high
        naive = row.precision["hate"]  # the golden-set interval: about 0.90, far from 0.18
        naive_covered += naive.low <= truth <= naive.high
    assert covered >= 0.93 * draws, f"covered in {covered} of {draws} draws"
    assert naive_covered == 0


# ---------------------------------------------------------------------------------------------
# the shipped gate
# ---------------------------------------------------------------------------------------------


def _manifest(run_id: str) -> Manifest:
    return Manifest(run_id=run_id, status="complete", started_at="2026-12-01T00:00:00",
                    config_path="c.yaml", config={"name": "ci-gate"}, config_hash="h",
                    policies={"hate_speech": PolicyInfo(version="1", owner="o", prompt_hash="x",
                                                        labels=["hate", "none"],
                                                        violating=["hate"])},
                    golden_set=GoldenSetInfo(path="g", file_sha256=None, selection_sha256="s",
                                             n_items=0),
                    deciders=[{"name": "llm", "kind": "llm"}])


def _gate_draw(rng: np.random.Generator, n: int, drop: float, flips: float) -> bool:
    """One base/candidate pair of runs on ``n`` items: ``flips`` of them change between the runs,
    and the candidate's accuracy is ``drop`` lower in expectation; True when the gate passes."""
    gold = np.where(rng.random(n) < 0.3, "hate", "none")
    right_b = rng.random(n) < 0.7
    flip = rng.random(n) < flips
    # among flipped items the candidate loses (right -> wrong) more than it gains by `drop`
    p_down = 0.5 + drop / (2 * flips)
    down = rng.random(n) < p_down
    right_c = np.where(flip, np.where(down, False, True), right_b)
    right_b = np.where(flip, np.where(down, True, False), right_b)
    other = {"hate": "none", "none": "hate"}
    labels_b = [g if r else other[g] for g, r in zip(gold, right_b)]
    labels_c = [g if r else other[g] for g, r in zip(gold, right_c)]
    base, cand = _decisions(list(zip(gold, labels_b)), "llm"), _decisions(list(zip(gold, labels_c)), "llm")
    for d in base + cand:
        d.decider_kind = "llm"
    gate = load_gate(REPO / "configs" / "gate.yaml")
    result = compare_decisions(_manifest("base"), base, _manifest("cand"), cand,
                               alpha=gate.alpha, n_resamples=50, power=gate.power)
    verdict = check_gate(result, gate)
    return next(c for c in verdict.checks if c.metric == "accuracy" and c.check == "max_drop").passed


@pytest.mark.slow
def test_shipped_gate_detects_a_five_point_drop_with_80_percent_power():
    sample = yaml.safe_load((REPO / "configs" / "ci-gate.yaml").read_text())["golden_set"]["sample"]
    n = sample["n"]
    flips = 0.10  # the discordance the shipped size is planned for (docs/ci-gate.md)
    rng = np.random.default_rng(5)
    draws = 200
    fail_5 = sum(not _gate_draw(rng, n, 0.05, flips) for _ in range(draws))
    fail_15 = sum(not _gate_draw(rng, n, 0.15, 0.2) for _ in range(draws))
    pass_0 = sum(_gate_draw(rng, n, 0.0, flips) for _ in range(draws))
    assert fail_5 >= 0.8 * draws, f"a 5-point drop failed the gate in only {fail_5} of {draws}"
    assert fail_15 == draws
    assert pass_0 >= 0.8 * draws, f"an unchanged model passed in only {pass_0} of {draws}"


@pytest.mark.slow
def test_design_weighted_precision_interval_covers_the_population_precision():
    # A golden set drawn by stratum: every user report (2% of traffic, 40% of them violating)
    # sampled as heavily as random traffic (98%, 1% violating): 400 items of each. The classifier
    # flags 90% of violating and, among clean items, 20% of reported and 3% of random ones.
    from evalharness.records.targets import SamplingDesign

    shares = {"report": 0.02, "random": 0.98}
    viol = {"report": 0.40, "random": 0.01}
    flag_clean = {"report": 0.20, "random": 0.03}
    tp = sum(shares[h] * viol[h] * 0.9 for h in shares)
    called = sum(shares[h] * (viol[h] * 0.9 + (1 - viol[h]) * flag_clean[h]) for h in shares)
    truth = tp / called
    rng = np.random.default_rng(13)
    design = SamplingDesign(stratum="source", population_shares=shares)
    covered, draws = 0, 300
    for _ in range(draws):
        rows = []
        for h in shares:
            bad = rng.random(400) < viol[h]
            flag = np.where(bad, rng.random(400) < 0.9, rng.random(400) < flag_clean[h])
            rows += [(h, "hate" if b else "none", "hate" if f else "none") for b, f in zip(bad, flag)]
        decisions = [Decision(item_id=f"i{i}", policy="hate_speech", decider="clf",
                              decider_kind="classic", label=label, outcome="ok", gold=gold,
                              meta={"source": h}) for i, (h, gold, label) in enumerate(rows)]
        metrics = build_metrics("r", decisions, {"hate_speech": ["hate", "none"]},
                                violating={"hate_speech": ["hate"]}, sampling=design)
        iv = metrics.results[0].production.violating_precision
        covered += iv.low <= truth <= iv.high
    assert metrics.results[0].production.basis == "sampling"
    assert covered >= 0.92 * draws, f"covered in {covered} of {draws} draws"
