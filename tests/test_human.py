"""Human raters as deciders: leave-one-out grading on a hand-checked example."""

from __future__ import annotations

import pytest

from evalharness.deciders.human import HumanDeciderConfig
from evalharness.deciders import DecisionRequest
from evalharness.deciders.human import HumanRaters, leave_one_out_gold, strict_majority
from evalharness.inputs.policies import load_policy
from evalharness.records import Annotation, GoldenItem
from evalharness.scoring.metrics_file import build_metrics

from conftest import REPO

POLICY = load_policy(REPO / "policies" / "hate_speech.yaml")


def _item(item_id: str, votes: dict[str, str], *, gold_from_raters: bool = True,
          seconds: float | None = None, site: str | None = None) -> GoldenItem:
    gold = strict_majority(list(votes.values()))
    return GoldenItem(
        id=item_id, text=f"text {item_id}",
        labels={"hate_speech": gold} if gold else {},
        annotations=[Annotation(rater=r, labels={"hate_speech": v}, seconds=seconds, site=site)
                     for r, v in votes.items()],
        gold_from_raters=gold_from_raters,
    )


@pytest.mark.parametrize(
    "votes, rater, expected",
    [
        ({"a": "hate", "b": "hate", "c": "none"}, "c", "hate"),   # minority rater: others agree
        ({"a": "hate", "b": "hate", "c": "none"}, "a", None),     # others tie (hate vs none)
        ({"a": "hate", "b": "hate", "c": "hate"}, "b", "hate"),
        ({"a": "none", "b": "hate", "c": "hate", "d": "hate"}, "a", "hate"),
        ({"a": "none", "b": "hate", "c": "hate", "d": "hate"}, "b", "hate"),  # 2 of 3 others
        ({"a": "hate", "b": "none"}, "a", "none"),                # one other rater
        ({"a": "hate"}, "a", None),                               # nobody else
    ],
)
def test_leave_one_out_gold(votes, rater, expected):
    assert leave_one_out_gold(list(votes.items()), rater) == expected


def _decide(items, **config):
    decider = HumanRaters(HumanDeciderConfig(name="raters", kind="human",
                                             **{"cost_per_hour_usd": 36.0, **config}))
    decider.check([POLICY], items)
    return list(decider.decide([DecisionRequest(item, POLICY) for item in items]))


# Hand-checked example. Items and votes (gold = majority of all three):
#   i1: a=hate b=hate c=hate   gold hate
#   i2: a=hate b=hate c=none   gold hate
#   i3: a=none b=hate c=none   gold none
#   i4: a=none b=none c=none   gold none
# Leave-one-out gold per judgment (majority of the two others; tie -> none given):
#   a: i1 hate (ok)  i2 tie  i3 tie  i4 none (ok)         -> 2 graded, 2 correct
#   b: i1 hate (ok)  i2 tie  i3 none (b said hate: wrong) i4 none (ok) -> 3 graded, 2 correct
#   c: i1 hate (ok)  i2 hate (c said none: wrong) i3 tie  i4 none (ok) -> 3 graded, 2 correct
# Pooled: 8 graded, 6 correct = 0.75. Without leave-one-out every judgment is graded: 12 graded,
# 10 correct (only b on i3 and c on i2 disagree with gold).
HAND_ITEMS = [
    _item("i1", {"a": "hate", "b": "hate", "c": "hate"}, seconds=20.0),
    _item("i2", {"a": "hate", "b": "hate", "c": "none"}, seconds=20.0),
    _item("i3", {"a": "none", "b": "hate", "c": "none"}, seconds=20.0),
    _item("i4", {"a": "none", "b": "none", "c": "none"}, seconds=20.0),
]


def test_leave_one_out_scores_match_hand_computation():
    decisions = _decide(HAND_ITEMS)
    per_rater = [d for d in decisions if d.decider_kind == "human_rater"]
    assert len(per_rater) == 12
    graded = {(d.rater, d.item_id): d.gold for d in per_rater}
    assert graded[("a", "i2")] is None and graded[("a", "i3")] is None
    assert graded[("b", "i3")] == "none" and graded[("c", "i2")] == "hate"
    metrics = build_metrics("r", decisions, {"hate_speech": ["hate", "none"]})
    agreement = metrics.human_agreement[0]
    by_rater = {r.rater: (r.n, r.accuracy.value) for r in agreement.raters}
    assert by_rater == {"a": (2, 1.0), "b": (3, pytest.approx(2 / 3)), "c": (3, pytest.approx(2 / 3))}
    assert agreement.rater_accuracy.value == pytest.approx(6 / 8)
    assert agreement.krippendorff_alpha is not None


def test_without_leave_one_out_raters_are_graded_against_full_gold():
    decisions = _decide(HAND_ITEMS, leave_one_out="never")
    agreement = build_metrics("r", decisions, {"hate_speech": ["hate", "none"]}).human_agreement[0]
    assert agreement.rater_accuracy.value == pytest.approx(10 / 12)


def test_auto_uses_leave_one_out_only_where_gold_came_from_raters():
    items = [_item(i.id, {a.rater: a.labels["hate_speech"] for a in i.annotations},
                   gold_from_raters=False, seconds=20.0) for i in HAND_ITEMS]
    decisions = _decide(items)
    assert all(d.gold is not None for d in decisions)


def test_pooled_tier_is_one_seeded_rater_per_item_with_cost_from_time():
    decisions = _decide(HAND_ITEMS)
    pooled = [d for d in decisions if d.decider_kind == "human"]
    assert [d.item_id for d in pooled] == ["i1", "i2", "i3", "i4"]
    assert all(d.decider == "raters" and d.rater in {"a", "b", "c"} for d in pooled)
    assert all(d.cost_usd == pytest.approx(36.0 * 20 / 3600) for d in pooled)
    again = _decide(HAND_ITEMS)
    assert [d.rater for d in again if d.decider_kind == "human"] == [d.rater for d in pooled]
    other_seed = _decide(HAND_ITEMS, seed=99)
    assert [d.item_id for d in other_seed if d.decider_kind == "human"] == ["i1", "i2", "i3", "i4"]


def test_sites_from_config_and_site_costs():
    decisions = _decide(HAND_ITEMS, sites={"manila": ["a", "b"], "lisbon": ["c"]},
                        site_cost_per_hour_usd={"lisbon": 72.0})
    rows = {d.rater: d for d in decisions if d.decider_kind == "human_rater" and d.item_id == "i1"}
    assert rows["a"].site == "manila" and rows["c"].site == "lisbon"
    assert rows["c"].cost_usd == pytest.approx(72.0 * 20 / 3600)
    assert rows["a"].cost_usd == pytest.approx(36.0 * 20 / 3600)
    sites = build_metrics("r", decisions, {"hate_speech": ["hate", "none"]}).human_agreement[0].sites
    assert {s.site: (s.raters, s.n) for s in sites} == {"lisbon": (1, 3), "manila": (2, 5)}


def test_item_no_rater_judged_is_not_evaluated_for_the_human_tier():
    lonely = GoldenItem(id="x", text="t", labels={"hate_speech": "none"})
    decisions = _decide([*HAND_ITEMS, lonely])
    assert not [d for d in decisions if d.item_id == "x"]
    assert {d.item_id for d in decisions if d.decider_kind == "human"} == {"i1", "i2", "i3", "i4"}
