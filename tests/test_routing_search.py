"""The routing search's fast path against brute force: cascade totals counted over runs of sorted
items (``routing/tally.py``) against simulating every cascade item by item; eligible thresholds
against counting each one's items and scipy's exact binomial test; the frontier against the
definition of "not dominated"."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from evalharness.records import Decision
from evalharness.records.targets import RoutingTargets
from evalharness.routing import build_policy_data, calibration_mask, resolve_goals
from evalharness.routing.search import Views, _counted, _simulated, pareto_frontier, step_options

LABELS = ["hate", "none"]


def _run(n: int, seed: int) -> list[Decision]:
    """Three scored deciders (good with coarse scores that tie, noisy with refusals, fair),
    an unscored human tier that misses some items, and a market slice."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        gold = "hate" if rng.random() < 0.35 else "none"
        meta = {"market": ["US", "BR", "IN"][i % 3]}
        good = float(np.round(rng.beta(5, 2) if gold == "hate" else rng.beta(2, 5), 2))
        noisy = float(rng.random())
        fair = float(rng.beta(3, 2) if gold == "hate" else rng.beta(2, 3))
        for name, p, cost in (("clf", good, 0.0002), ("llm", noisy, 0.003 * (1 + rng.random())),
                              ("emb", fair, 0.0005)):
            refused = name == "llm" and i % 9 == 0
            rows.append(Decision(
                item_id=f"s{i}", policy="hate_speech", decider=name,
                decider_kind="llm" if name == "llm" else "classic",
                label=None if refused else ("hate" if p >= 0.5 else "none"),
                scores=None if refused else {"hate": p, "none": 1 - p},
                outcome="refusal" if refused else "ok", gold=gold, cost_usd=cost, meta=meta))
        if i % 17:
            right = rng.random() < 0.95
            rows.append(Decision(
                item_id=f"s{i}", policy="hate_speech", decider="bpo", decider_kind="human",
                label=gold if right else ("none" if gold == "hate" else "hate"), gold=gold,
                outcome="ok", cost_usd=0.1, latency_s=30.0, site="manila", meta=meta))
    return rows


TARGETS = {
    "plain": {"precision_target": 0.7, "recall_target": 0.6, "auto_clear_max_violating": 0.1},
    "prevalence": {"precision_target": 0.6, "recall_target": 0.6, "auto_clear_max_violating": 0.1,
                   "prevalence": {"hate_speech": 0.2}},
    "slices": {"precision_target": 0.7, "recall_target": 0.6, "min_slice_items": 450,
               "slices": [{"key": "market", "precision_target": 0.65},
                          {"key": "market", "value": "BR", "recall_target": 0.5}]},
    "three tiers": {"precision_target": 0.6, "recall_target": None,
                    "auto_clear_max_violating": 0.2, "max_automated_tiers": 3, "grid_points": 3},
    "error costs": {"precision_target": 0.7, "recall_target": 0.6, "auto_clear_max_violating": 0.1,
                    "cost_of_false_negative": 2.0, "cost_of_false_positive": 0.25},
    "error costs at prevalence": {"precision_target": 0.6, "recall_target": 0.6,
                                  "auto_clear_max_violating": 0.1,
                                  "prevalence": {"hate_speech": 0.2},
                                  "cost_of_false_negative": 0.5, "cost_of_false_positive": 0.05},
}


def _calibration(targets: RoutingTargets, n: int = 4000, seed: int = 3):
    data = build_policy_data(_run(n, seed), policy="hate_speech", labels=LABELS,
                             violating=["hate"])
    goals = resolve_goals(targets, "hate_speech")
    mask = calibration_mask(data.item_ids, share=targets.calibration_share, seed=targets.seed)
    cal = Views(data.take(np.flatnonzero(mask)))
    return cal, replace(goals, split_ratio=cal.data.n / (data.n - cal.data.n))


@pytest.mark.parametrize("case", list(TARGETS))
def test_counted_search_matches_simulating_every_cascade(case):
    targets = RoutingTargets.model_validate(TARGETS[case])
    cal, goals = _calibration(targets)
    tiers, points = targets.max_automated_tiers, targets.grid_points
    counted, simulated = _counted(cal, goals, tiers, points), _simulated(cal, goals, tiers, points)
    assert len(counted) == len(simulated) > 50
    assert sum(len(c.cascade.steps) == tiers for c in counted) > 0
    for mine, sim in zip(counted, simulated):
        assert mine.cascade == sim.cascade
        assert [(c.text, c.scope, c.rate, c.judged) for c in mine.claims] == \
            [(c.text, c.scope, c.rate, c.judged) for c in sim.claims]
        assert (mine.meets, mine.likely, mine.point_meets, mine.shortfall[0]) == \
            (sim.meets, sim.likely, sim.point_meets, sim.shortfall[0])
        assert (mine.precision, mine.recall, mine.f1) == (sim.precision, sim.recall, sim.f1)
        assert mine.shortfall[1] == pytest.approx(sim.shortfall[1], rel=1e-12, abs=1e-15)
        assert mine.cost == pytest.approx(sim.cost, rel=1e-12)
    assert [c.cascade for c in pareto_frontier(counted)] == \
        [c.cascade for c in pareto_frontier(simulated)]
    # the closest plan: fewest claims missed, least shortfall, then cost (equal to ~1e-16)
    best = min((*c.shortfall, c.cost) for c in simulated)
    near = counted.closest()
    assert near.shortfall[0] == best[0] and near.shortfall[1] == pytest.approx(best[1], abs=1e-12)
    assert near.cost == pytest.approx(best[2], rel=1e-12)
    assert [c.cascade for c in counted.baselines()] == [c.cascade for c in simulated.baselines()]


def test_frontier_is_exactly_the_undominated_candidates():
    cal, goals = _calibration(RoutingTargets.model_validate(TARGETS["plain"]))
    every = list(_counted(cal, goals, 2, 6))
    front = [c.cascade for c in pareto_frontier(_counted(cal, goals, 2, 6))]
    assert 3 < len(front) < len(every) / 5
    eps = 1e-9
    for c in every:
        if c.cascade in front:  # nothing cheaper is at least as good
            assert not any(o.cost < c.cost - eps and o.f1 >= c.f1 - eps for o in every)
        else:  # something on the frontier is no dearer and at least as good
            assert any(o.cost <= c.cost + eps and o.f1 >= c.f1 - eps
                       for o in every if o.cascade in front)


@pytest.mark.parametrize("prevalence", [None, 0.05])
def test_eligible_thresholds_match_counting_each_threshold(prevalence):
    targets = RoutingTargets.model_validate(
        {**TARGETS["plain"], "prevalence": {"hate_speech": prevalence} if prevalence else {}})
    cal, goals = _calibration(targets)
    view = cal.data
    d, y = view.deciders["clf"], view.gold_violating  # coarse scores: thresholds tie items
    remaining = ~(view.deciders["emb"].p <= 0.15)  # the items a first step escalates
    scored = np.flatnonzero(remaining & np.isfinite(d.p))
    reached = scored[np.argsort(d.p[scored], kind="stable")]
    acts, clears = step_options(view, "clf", remaining, goals, reached)
    assert (list(acts), list(clears)) == tuple(map(list, step_options(view, "clf", remaining,
                                                                       goals)))
    if prevalence is not None:
        return  # screened by the Katz interval: checked end to end above
    level = goals.selection_level(goals.typical_claims)
    seen = d.p[scored]
    lost_max = 1 - goals.recall
    violating = int((remaining & y).sum())
    want_a, want_c = [], []
    for t in np.unique(seen):
        took = remaining & (d.p >= t)
        n, k = int(took.sum()), int((took & y).sum())
        low = stats.binomtest(k, n, goals.precision, alternative="greater").proportion_ci(level).low
        if k / n >= goals.precision and low >= goals.precision:
            want_a.append((float(t), n, k))
        took = remaining & (d.p <= t)
        n, k = int(took.sum()), int((took & y).sum())
        high = stats.binomtest(k, n, alternative="less").proportion_ci(level).high
        high_recall = stats.binomtest(k, violating, alternative="less").proportion_ci(level).high
        if k / n <= goals.fn_ceiling and high <= goals.fn_ceiling and k <= lost_max * violating \
                and high_recall <= lost_max:
            want_c.append((float(t), n, k))
    assert len(want_a) > 3 and len(want_c) > 3
    assert list(acts) == want_a
    assert list(clears) == want_c[::-1]
