"""The marketplace example (golden_sets/marketplace_listings + configs/marketplace.yaml) runs the
marketplace_core bundle on the embedded model: one pass per listing for six policies, the listing
shown by its fields and market, photos judged on text alone and said so."""

from __future__ import annotations

import pytest

from evalharness import run_eval
from evalharness.execution.runner import pending_work
from evalharness.execution.workplan import build_work_plan
from evalharness.inputs.goldens import read_golden_set

from conftest import REPO, read_jsonl

CONFIG = REPO / "configs" / "marketplace.yaml"


def test_the_listings_are_checked_structured_items_with_photos():
    items = read_golden_set(REPO / "golden_sets" / "marketplace_listings" / "items.jsonl")
    assert len(items) == 32 and all(set(it.fields) >= {"title", "price", "seller_country"}
                                    for it in items)
    assert sum(bool(it.images) for it in items) == 4
    assert {it.meta["market"] for it in items} == {"MY", "ID", "PH", "SG", "TH", "VN"}
    plan = build_work_plan(CONFIG)
    bundled = next(w for w in pending_work(plan, set()) if w.decider.name == "smollm2-bundle")
    bundled.decider.check(plan.decider_policies(bundled.decider), plan.items)
    shown = bundled.decider.payload(bundled.requests[0])["messages"][-1]["content"]
    assert "Listing on the MY marketplace (seller in MY)" in shown
    assert "Title: Handmade batik shirt, size M" in shown and "Price: 45.00 MYR" in shown


@pytest.mark.slow
def test_the_example_runs_the_bundle_on_the_embedded_model(tmp_path):
    result = run_eval(CONFIG, out_dir=tmp_path, limit=3, live_progress=False)
    rows = read_jsonl(result.run_dir / "decisions.jsonl")
    bundled = [r for r in rows if r["decider"] == "smollm2-bundle"]
    assert len(bundled) == 18 and sum(r["attempts"] for r in bundled) == 3  # 3 passes, 6 policies
    assert all(r.get("text_only") for r in rows)  # the 3 listings have photos; SmolLM2 reads text
    report = (result.run_dir / "report.html").read_text()
    assert "smollm2-bundle was asked this policy in bundle marketplace_core" in report
    assert "smollm2 cannot see images: 3 of its 3 decisions" in report
    assert r"marketplace\_core" in (result.run_dir / "report.md").read_text()
