"""How the runner writes decisions: a decider that calls out (or may) has each decision on disk
before the next one is made; a recomputable one (stored scores, ratings, local classifiers,
ensembles) is written in batches, and the batch in hand is written when it is interrupted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from evalharness.deciders.base import Decider, DecisionRequest
from evalharness.execution.progress import make_progress
from evalharness.execution.rundir import DecisionLog, RunDir
from evalharness.execution.runner import WRITE_BATCH, RunStats, _Writer
from evalharness.records import Decision
from evalharness.records.table import TableBuilder


class Counting(Decider):
    """Yields ``n`` decisions, recording before each how many lines the log file holds."""

    kind = "precomputed"

    def __init__(self, log: Path, n: int, recomputable: bool, stop_at: int | None = None) -> None:
        super().__init__("counting")
        self.log, self.n, self.recomputable, self.stop_at = log, n, recomputable, stop_at
        self.lines_seen: list[int] = []

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for i in range(self.n):
            self.lines_seen.append(self.log.read_bytes().count(b"\n"))
            if i == self.stop_at:
                raise KeyboardInterrupt
            yield Decision(item_id=f"i{i}", policy="p", decider=self.name,
                           decider_kind="precomputed", label="none", outcome="ok", gold="none")


def _write(tmp_path: Path, decider: Counting) -> None:
    with DecisionLog(decider.log) as out, make_progress(decider.n, live=False) as progress:
        writer = _Writer(out, set(), progress, RunStats(), {}, set())
        writer.write_all(decider.decide([]), decider)


def test_a_decider_that_may_call_out_has_every_decision_on_disk_before_the_next(tmp_path):
    decider = Counting(tmp_path / "decisions.jsonl", 40, recomputable=False)
    _write(tmp_path, decider)
    assert decider.lines_seen == list(range(40))
    assert decider.log.read_bytes().count(b"\n") == 40


def test_a_recomputable_decider_is_written_in_batches(tmp_path):
    n = 2 * WRITE_BATCH + 7
    decider = Counting(tmp_path / "decisions.jsonl", n, recomputable=True)
    _write(tmp_path, decider)
    assert decider.lines_seen == [WRITE_BATCH * (i // WRITE_BATCH) for i in range(n)]
    lines = decider.log.read_text().splitlines()
    assert [Decision.model_validate_json(line).item_id for line in lines] == \
        [f"i{i}" for i in range(n)]


def test_an_interrupted_recomputable_decider_loses_nothing_it_made(tmp_path):
    decider = Counting(tmp_path / "decisions.jsonl", 1000, recomputable=True,
                       stop_at=WRITE_BATCH + 10)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, decider)
    assert decider.log.read_bytes().count(b"\n") == WRITE_BATCH + 10


class Interrupting(TableBuilder):
    """A columnar builder that is interrupted (Ctrl-C) while it takes the ``at``-th row."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.taken = at, 0

    def add(self, decision: Decision, line: int | None = None) -> None:
        self.taken += 1
        if self.taken == self.at:
            raise KeyboardInterrupt
        super().add(decision, line)


def test_the_columnar_copy_matches_the_file_after_a_batch_cut_between_bytes_and_rows(tmp_path):
    run = RunDir(tmp_path)
    decisions = [Decision(item_id=f"i{i}", policy="p", decider="d", decider_kind="precomputed",
                          label="none", outcome="ok", gold="none") for i in range(8)]
    with run.open_decisions() as out:
        out.append_many(decisions[:3])
    assert run.file("decisions.parquet").exists()
    with pytest.raises(KeyboardInterrupt):
        with run.open_decisions() as out:
            out._written = Interrupting(at=3)  # the bytes of the batch are written; rows 3.. not
            out.append_many(decisions[3:])
    with run.open_decisions() as out:  # what --resume does next: append more
        out.append_many([decisions[0].model_copy(update={"item_id": "later"})])
    table, objects = run.read_table(), run.read_decisions()
    assert len(objects) == 9
    assert table.item_ids(np.arange(len(table))) == [d.item_id for d in objects]
