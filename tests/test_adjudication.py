"""Adjudication: the disagreement queue as a CSV, verdicts appended next to the golden set (never
editing it), its card recording the version, and ``report``/``route``/``compare --adjudicated``
regrading against the verdicts: the counts of changed labels and every decider's accuracy (with
its Wilson interval) are checked against scikit-learn and statsmodels on decisions.jsonl."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import yaml
from sklearn.metrics import accuracy_score, precision_score, recall_score
from statsmodels.stats.proportion import proportion_confint

from evalharness import run_eval
from evalharness.api import open_review

from conftest import MINI, REPO, read_jsonl


@pytest.fixture
def run(tmp_path, write_config):
    """A run of the mini set (tfidf + raters) over a copy of the set, with a CARD.md beside it."""
    golden = tmp_path / "set"
    golden.mkdir()
    shutil.copy(MINI / "items.jsonl", golden / "items.jsonl")
    (golden / "CARD.md").write_text("# mini\n\nA hand-made set.\n")
    config = {"name": "adj", "golden_set": {"path": str(golden / "items.jsonl")},
              "policies": ["hate_speech"], "policies_dir": str(REPO / "policies"),
              "deciders": [{"name": "tfidf", "kind": "classic",
                            "train": {"path": str(MINI / "train.jsonl")}},
                           {"name": "raters", "kind": "human", "cost_per_hour_usd": 14.0,
                            "seconds_per_item": 30}]}
    return run_eval(write_config(config), out_dir=tmp_path / "runs", run_id="r",
                    live_progress=False).run_dir


def _fill(queue_csv, new_label=None):
    """Flip every queued item's gold (the other of hate/none), as a reviewer would fill it."""
    rows = list(csv.DictReader(queue_csv.open()))
    for r in rows:
        r["new_label"] = new_label or ("none" if r["gold"] == "hate" else "hate")
        r["reason"] = "re-read against the policy"
    with queue_csv.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _answer(r):
    return r["label"] if r["outcome"] == "ok" else r["outcome"]


def test_queue_adjudicate_and_regrade(run, tmp_path, cli_run):
    source = (tmp_path / "set" / "items.jsonl").read_bytes()
    result = cli_run("queue", run)
    assert result.exit_code == 0, result.stderr
    queue_csv = run / "queue.csv"
    state = open_review([run])
    assert int(result.stdout.split()[0]) == int(state.queue.any.sum()) > 0
    rows = _fill(queue_csv)
    result = cli_run("adjudicate", run, queue_csv, "--reviewer", "qa-lead")
    assert result.exit_code == 0, result.stderr
    file = tmp_path / "set" / "items.adjudications.jsonl"
    assert result.stdout.strip().splitlines()[-1] == str(file)
    verdicts = read_jsonl(file)
    assert len(verdicts) == len(rows) and {v["reviewer"] for v in verdicts} == {"qa-lead"}
    assert (tmp_path / "set" / "items.jsonl").read_bytes() == source  # never edited
    card = (tmp_path / "set" / "CARD.md").read_text()
    assert "## Adjudication" in card and f"{len(rows)} verdicts by 1 reviewer" in card
    assert card.startswith("# mini\n\nA hand-made set.\n")

    result = cli_run("report", run, "--adjudicated", file)
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    summary = metrics["adjudication"]
    assert summary["changed"] == {"hate_speech": len(rows)} and summary["not_in_run"] == 0
    new_gold = {(v["item_id"], v["policy"]): v["new_label"] for v in verdicts}
    decisions = [d for d in read_jsonl(run / "decisions.jsonl") if d["decider"] == "tfidf"]
    graded = [d for d in decisions if d["gold"] is not None]
    gold = [new_gold.get((d["item_id"], d["policy"]), d["gold"]) for d in graded]
    move = next(m for m in summary["moves"] if m["decider"] == "tfidf")
    after = accuracy_score(gold, [_answer(d) for d in graded])
    before = accuracy_score([d["gold"] for d in graded], [_answer(d) for d in graded])
    assert move["after"]["value"] == pytest.approx(after)
    assert move["before"]["value"] == pytest.approx(before)
    assert move["delta"] == pytest.approx(after - before)
    low, high = proportion_confint(round(after * len(graded)), len(graded), method="wilson")
    assert (move["after"]["low"], move["after"]["high"]) == pytest.approx((low, high))
    assert move["changed"] == sum((d["item_id"], d["policy"]) in new_gold for d in graded)
    decided = [_answer(d) for d in graded]
    for name, score in (("precision", precision_score), ("recall", recall_score)):
        was, now = move[name]["hate"]
        assert was["value"] == pytest.approx(score([d["gold"] for d in graded], decided,
                                                   labels=["hate"], average="micro"))
        assert now["value"] == pytest.approx(score(gold, decided, labels=["hate"],
                                                   average="micro"))
    assert "## Adjudicated gold" in (run / "report.md").read_text()
    assert "Adjudicated gold" in (run / "report.html").read_text()

    route = cli_run("route", run, "--adjudicated", file)
    assert route.exit_code == 0, route.stderr
    plan = yaml.safe_load((run / "routing.yaml").read_text())
    assert plan["adjudication"]["changed"] == {"hate_speech": len(rows)}
    assert "Graded against adjudicated gold" in (run / "routing.md").read_text()
    assert f"{len(rows)} gold labels changed" in route.stdout
    compared = cli_run("compare", run, run, "--adjudicated", file, "--json", tmp_path / "c.json")
    assert compared.exit_code == 0, compared.stderr
    notes = json.loads((tmp_path / "c.json").read_text())["notes"]
    assert f"{len(rows)} gold labels changed" in notes[0]

    assert cli_run("report", run).exit_code == 0  # without the flag: the recorded gold again
    assert "adjudication" not in json.loads((run / "metrics.json").read_text())


def test_bad_verdicts_write_nothing(run, tmp_path, cli_run, write_config):
    file = tmp_path / "set" / "items.adjudications.jsonl"
    queue_csv = run / "queue.csv"
    assert cli_run("queue", run).exit_code == 0
    _fill(queue_csv, new_label="nonsense")
    result = cli_run("adjudicate", run, queue_csv, "--reviewer", "qa")
    assert result.exit_code == 2 and f"{queue_csv}:2" in result.stderr
    assert "not a label of hate_speech" in result.stderr and "Traceback" not in result.stderr
    assert not file.exists()

    cli_run("queue", run)  # a fresh, unfilled queue: nothing to record
    result = cli_run("adjudicate", run, queue_csv, "--reviewer", "qa")
    assert result.exit_code == 2 and "no verdict to record" in result.stderr

    file.write_text('{"item_id": "m01", "policy": "hate_speech"}\n')
    result = cli_run("report", run, "--adjudicated", file)
    assert result.exit_code == 2 and f"{file}:1" in result.stderr and "new_label" in result.stderr
    result = cli_run("report", run, "--adjudicated", tmp_path / "missing.jsonl")
    assert result.exit_code == 2 and "no such adjudication file" in result.stderr

    file.unlink()
    record = open_review([run]).adjudicate
    item = read_jsonl(run / "items.jsonl")[0]
    gold = item["labels"]["hate_speech"]
    other = "none" if gold == "hate" else "hate"
    form = {"item_id": item["id"], "policy": "hate_speech", "old_label": gold,
            "new_label": other, "reason": "r", "reviewer": "a"}
    assert record(form)["new_label"] == other
    with pytest.raises(ValueError, match="is now"):  # a second reviewer on a stale page
        open_review([run]).adjudicate({**form, "reviewer": "b"})
    with pytest.raises(ValueError, match="reason is empty"):
        record({**form, "old_label": other, "new_label": gold, "reason": " "})
    assert len(read_jsonl(file)) == 1
