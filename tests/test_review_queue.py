"""The disagreement queue's ``tier_vs_qa`` reason: the items a guaranteed step of the signed
routing plan took and got wrong by QA gold, checked against a walk of routing.yaml's cascade
over decisions.jsonl; and every queue row is one per item and policy."""

from __future__ import annotations

import yaml

from evalharness.api import open_review

from conftest import read_jsonl
from test_monitor import signed  # noqa: F401 (a fixture: a run routed into a signed plan)


def _flagged_by_hand(run) -> set[str]:
    plan = yaml.safe_load((run / "routing.yaml").read_text())["policies"][0]
    bad = set(plan["violating"])
    rows = read_jsonl(run / "decisions.jsonl")
    by = {(r["item_id"], r["decider"]): r for r in rows}
    items = sorted({r["item_id"] for r in rows})
    flagged = set()
    for item in items:
        for tier in plan["plan"]["tiers"]:
            if tier["role"] == "last":
                break
            d = by.get((item, tier["decider"]))
            if d is None or d["outcome"] != "ok" or not d.get("scores"):
                continue
            p = min(1.0, max(0.0, sum(v for k, v in d["scores"].items() if k in bad)))
            taken = False
            for side in ("auto_action", "auto_clear"):
                check = tier[side]
                if not check or check["threshold"] is None:
                    continue
                took = p >= check["threshold"] if side == "auto_action" else p <= check["threshold"]
                wrong = (d["gold"] in bad) != (side == "auto_action")
                if took and check["guaranteed"] and d["gold"] is not None and wrong:
                    flagged.add(item)
                taken |= took
            if taken:
                break
    return flagged


def test_a_guaranteed_tier_against_qa_is_queued(signed):  # noqa: F811
    run = signed.parent
    plan = yaml.safe_load(signed.read_text())["policies"][0]["plan"]
    steps = [t[side] for t in plan["tiers"] for side in ("auto_action", "auto_clear") if t[side]]
    assert any(s["guaranteed"] for s in steps), "the fixture must sign at least one step"
    state = open_review([run])
    table, queue = state.table, state.queue
    queued = [int(i) for i in queue.by_reason["tier_vs_qa"].nonzero()[0]]
    expected = _flagged_by_hand(run)
    assert expected and {table.item_ids[table.item[i]] for i in queued} == expected
    heads = [(table.item[i], table.policy.codes[i]) for i in queue.any.nonzero()[0]]
    assert len(heads) == len(set(heads))  # one queue row per item and policy
    assert state.rows({"queue": "tier_vs_qa"})["total"] == len(expected)
