"""decisions.parquet, the columnar copy of decisions.jsonl: it holds exactly what the file holds
(checked row by row against the pydantic objects read from the file), is used only for the bytes
it was made from, and gives the same metrics.json and routing data as the objects."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from evalharness.execution.rundir import DECISION_TABLE, RunDir
from evalharness.records import Decision
from evalharness.records.errors import RunDirError
from evalharness.records.table import DecisionTable
from evalharness.routing.data import build_policy_data
from evalharness.scoring.metrics_file import build_metrics
from evalharness.scoring.rows import prediction

LABELS = ["hate", "none"]
OUTCOMES = ["ok"] * 8 + ["invalid", "refusal", "error"]


def _decisions(n_items: int, seed: int = 0) -> list[Decision]:
    """Varied decisions: two policies, machines, a human tier with raters and sites, scores
    present or not, nulls, repeated keys (only the first counts)."""
    rng = random.Random(seed)
    out = []
    for i in range(n_items):
        meta = {"market": rng.choice(["us", "br", ["us", "br"], None]), "n": i}
        for policy in ("hate_speech", "other"):
            gold = rng.choice(LABELS + [None]) if i % 17 == 0 else rng.choice(LABELS)
            for decider, kind in (("m1", "classic"), ("m2", "llm"), ("team", "human"),
                                  ("team/r1", "human_rater"), ("team/r2", "human_rater")):
                outcome = rng.choice(OUTCOMES)
                ok = outcome == "ok"
                p = rng.random()
                out.append(Decision(
                    item_id=f"item-{i:04d}", policy=policy, decider=decider, decider_kind=kind,
                    label=rng.choice(LABELS) if ok else None, outcome=outcome, gold=gold,
                    confidence=rng.choice([None, p]) if ok else None,
                    scores=({"hate": p, "none": 1 - p} if kind == "llm" or rng.random() < 0.5
                            else None) if ok else None,
                    cost_usd=rng.random() / 1000, latency_s=rng.choice([None, rng.random() * 30]),
                    cached=rng.random() < 0.2, error="boom" if outcome == "error" else None,
                    raw="?" if outcome == "invalid" else None,
                    rater=decider.split("/")[1] if "/" in decider else None,
                    site=rng.choice(["manila", "lisbon", None]) if kind.startswith("human") else None,
                    meta=meta))
        if i % 29 == 0:  # a repeated key: the file keeps it, readers use the first
            out.append(out[-3].model_copy(update={"label": "none", "outcome": "ok"}))
    return out


def _write(run: RunDir, decisions: list[Decision]) -> None:
    with run.lock(), run.open_decisions() as log:
        for d in decisions:
            log.append(d)


def _rows(table: DecisionTable) -> list[tuple]:
    """Every field the table keeps, per row, read back through its public accessors."""
    out = []
    for i in range(len(table)):
        out.append((
            *(table[name][i] for name in ("item_id", "policy", "decider", "decider_kind",
                                          "label", "gold", "outcome", "site", "rater")),
            *(None if np.isnan(v) else float(v)
              for v in (table.numbers[n][i] for n in ("confidence", "cost_usd", "latency_s"))),
            bool(table.cached[i]), table.scores(i) or None,
            table.meta_of[table["item_id"][i]], table.prediction_value(i),
        ))
    return out


def _expected(decisions: list[Decision]) -> list[tuple]:
    return [(d.item_id, d.policy, d.decider, d.decider_kind, d.label, d.gold, d.outcome, d.site,
             d.rater, d.confidence, d.cost_usd, d.latency_s, d.cached, d.scores or None, d.meta,
             prediction(d)) for d in decisions]


@pytest.fixture()
def run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "run")
    _write(run, _decisions(120))
    return run


def test_the_copy_holds_what_the_file_holds_row_by_row(run: RunDir):
    assert run.file(DECISION_TABLE).exists()  # written when the log closed
    table = run.read_table()
    expected = run.read_decisions()
    assert len(table) == len(expected) < sum(1 for _ in open(run.file("decisions.jsonl")))
    assert _rows(table) == _expected(expected)
    some = [0, 7, len(table) - 1]
    assert table.decisions(some) == [expected[i] for i in some]  # re-read from their lines


def test_lines_appended_later_are_read_from_the_file_and_added(run: RunDir):
    extra = _decisions(130, seed=1)[-40:]  # items 120..129, new keys
    with open(run.file("decisions.jsonl"), "a", encoding="utf-8") as fh:  # not through the log
        fh.writelines(d.model_dump_json() + "\n" for d in extra)
    assert _rows(run.read_table()) == _expected(run.read_decisions())
    size = run.file("decisions.jsonl").stat().st_size
    info = json.loads(__import__("pyarrow.parquet").parquet.read_schema(
        run.file(DECISION_TABLE)).metadata[b"evalharness"])
    assert info["source_size"] == size  # the copy was brought up to date


def test_a_file_edited_or_rewritten_since_is_read_whole_again(run: RunDir):
    path = run.file("decisions.jsonl")
    text = path.read_text(encoding="utf-8")
    first = json.loads(text.splitlines()[0])
    swapped = "none" if first["gold"] == "hate" else "hate"
    edited = text.replace(f'"gold":"{first["gold"]}"', f'"gold":"{swapped}"', 1)
    assert len(edited) == len(text) and edited != text  # same size, other bytes
    path.write_text(edited, encoding="utf-8")
    assert run.read_table()["gold"][0] == swapped
    assert run.drop_rows(lambda row: row["decider"] == "m2") > 0
    assert not run.file(DECISION_TABLE).exists()
    table = run.read_table()
    assert "m2" not in {table["decider"][i] for i in range(len(table))}
    assert _rows(table) == _expected(run.read_decisions())


def test_a_torn_last_line_is_left_out_and_a_bad_line_named(run: RunDir):
    path = run.file("decisions.jsonl")
    n = len(run.read_table())
    lines = path.read_bytes().count(b"\n")
    with open(path, "ab") as fh:
        fh.write(b'{"item_id": "torn", "poli')
    assert len(run.read_table()) == n
    with open(path, "ab") as fh:
        fh.write(b'cy": 3}\n{"not": "a decision"}\n')
    with pytest.raises(RunDirError) as err:
        run.read_table()  # only the lines after the copy are parsed; the line number is true
    assert f"decisions.jsonl:{lines + 1}: policy" in str(err.value)  # the finished torn line


def test_metrics_from_the_copy_equal_metrics_from_the_objects(run: RunDir):
    labels = {"hate_speech": LABELS, "other": LABELS}
    kwargs = dict(slice_by=["market"], violating={"hate_speech": ["hate"], "other": ["hate"]})
    from_table = build_metrics("r", run.read_table(), labels, **kwargs)
    from_objects = build_metrics("r", run.read_decisions(), labels, **kwargs)
    assert from_table.model_dump_json() == from_objects.model_dump_json()
    assert {r.slice.value for r in from_table.results if r.slice} == {"us", "br", "(missing)"}
    assert from_table.human_agreement  # the rater rows were read back for agreement


def test_routing_data_from_the_copy_equals_data_from_the_objects(run: RunDir):
    table, objects = run.read_table(), run.read_decisions()
    for policy in ("hate_speech", "other"):
        a = build_policy_data(table, policy=policy, labels=LABELS, violating=["hate"])
        b = build_policy_data(objects, policy=policy, labels=LABELS, violating=["hate"])
        assert a.item_ids == b.item_ids and a.left_out == b.left_out and a.meta == b.meta
        assert list(a.deciders) == list(b.deciders) == ["m1", "m2", "team"]
        for name in a.deciders:
            x, y = a.deciders[name], b.deciders[name]
            for field in ("has", "pred", "p", "act", "clear", "gold", "cost", "seconds", "site"):
                np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)
        # and what each array means, from the decisions directly
        codes = {lab: i for i, lab in enumerate([*LABELS, "invalid", "refusal", "error"])}
        m2 = {d.item_id: d for d in objects if d.policy == policy and d.decider == "m2"}
        arrays, position = a.deciders["m2"], {item: i for i, item in enumerate(a.item_ids)}
        for item, d in m2.items():
            if item not in position:
                continue
            i = position[item]
            assert arrays.pred[i] == codes[d.label if d.outcome == "ok" else d.outcome]
            if d.outcome == "ok":
                assert arrays.p[i] == pytest.approx(d.scores["hate"])
            assert arrays.cost[i] == d.cost_usd
        machine_gold = {}
        for d in objects:
            if d.policy == policy and d.decider in ("m1", "m2"):
                machine_gold.setdefault(d.item_id, []).append(d.gold)
        assert a.item_ids == sorted(i for i, g in machine_gold.items()
                                    if all(x in LABELS for x in g))
        assert [LABELS[c] for c in a.gold] == [machine_gold[i][0] for i in a.item_ids]
