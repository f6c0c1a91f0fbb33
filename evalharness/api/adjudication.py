"""Adjudication through the API: record verdicts (from the viewer or a filled-in CSV) in the
golden set's append-only adjudication file, and regrade runs against them (``report``, ``route``
and ``compare`` with ``--adjudicated FILE``).

A verdict is checked before it is written: the item and policy exist in the run, the new label is
one of the policy's, it differs from the gold the reviewer saw, and that gold is still the current
one (the set's, or the latest verdict's) — so two reviewers never overwrite each other blindly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..execution.rundir import RunDir
from ..inputs.adjudications import (adjudication_path, append_verdicts, latest, now,
                                    read_verdicts, record_in_card, version_of)
from ..inputs.textfile import read_utf8
from ..records import Decision, GoldenItem, Manifest
from ..records.adjudication import Verdict
from ..records.errors import AdjudicationError, Problem, UsageError
from ..records.table import DecisionTable
from ..scoring.adjudicated import regold

__all__ = ["Adjudication", "adjudicate_csv", "default_adjudication_file", "load_adjudication",
           "regold_decisions", "verdict_recorder"]

CSV_COLUMNS = ("item_id", "policy", "new_label", "reason")


@dataclass(frozen=True)
class Adjudication:
    """An adjudication file as read: its path, version and the verdicts that stand."""

    file: Path
    version: str
    verdicts: int
    standing: Mapping[tuple[str, str], Verdict]

    def regold(self, table: DecisionTable) -> tuple[DecisionTable, Any, int]:
        return regold(table, self.standing)


def load_adjudication(path: Path | str) -> Adjudication:
    """Read an adjudication file (it must exist and hold at least one verdict)."""
    path = Path(path)
    if not path.is_file():
        raise AdjudicationError("no such adjudication file", file=str(path),
                                field="--adjudicated", fix="give the <set>.adjudications.jsonl "
                                "that `view` or `adjudicate` wrote")
    verdicts = read_verdicts(path)
    if not verdicts:
        raise AdjudicationError("the file holds no verdict", file=str(path),
                                fix="adjudicate some items first; nothing is regraded on nothing")
    return Adjudication(path, version_of(path), len(verdicts), latest(verdicts))


def default_adjudication_file(manifest: Manifest) -> Path:
    """The adjudication file next to the run's golden set."""
    return adjudication_path(manifest.golden_set.path)


def regold_decisions(decisions: Sequence[Decision], adjudication: Adjudication
                     ) -> tuple[list[Decision], set[tuple[str, str]]]:
    """Decision objects with the standing verdicts' labels as gold (for ``compare``), and the
    (item, policy) pairs whose gold changed."""
    standing = adjudication.standing
    out, changed = [], set()
    for d in decisions:
        verdict = standing.get((d.item_id, d.policy))
        if verdict is not None and verdict.new_label != d.gold:
            d = d.model_copy(update={"gold": verdict.new_label})
            changed.add((d.item_id, d.policy))
        out.append(d)
    return out, changed


def verdict_recorder(run: RunDir, manifest: Manifest, items: Mapping[str, GoldenItem],
                     file: Path) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What the viewer calls with a reviewer's form: checks and appends one verdict; raises
    ``ValueError`` saying what is wrong."""
    standing = dict(latest(read_verdicts(file)))

    def record(body: dict[str, Any]) -> dict[str, Any]:
        verdict = _checked(body, manifest, items, standing, run.run_id)
        append_verdicts(file, [verdict])
        record_in_card(file)
        standing[(verdict.item_id, verdict.policy)] = verdict
        return verdict.model_dump()

    return record


def _checked(body: Mapping[str, Any], manifest: Manifest, items: Mapping[str, GoldenItem],
             standing: Mapping[tuple[str, str], Verdict], run_id: str,
             old_must_match: bool = True) -> Verdict:
    text = {k: str(body.get(k) or "").strip() for k in ("item_id", "policy", "new_label",
                                                         "reason", "reviewer")}
    for name, value in text.items():
        if not value:
            raise ValueError(f"{name} is empty")
    item = items.get(text["item_id"])
    if item is None:
        raise ValueError(f"item {text['item_id']!r} is not in run {run_id}")
    info = manifest.policies.get(text["policy"])
    if info is None:
        raise ValueError(f"policy {text['policy']!r} is not in run {run_id}")
    if text["new_label"] not in info.labels:
        raise ValueError(f"new_label {text['new_label']!r} is not a label of {text['policy']} "
                         f"({', '.join(info.labels)})")
    earlier = standing.get((text["item_id"], text["policy"]))
    current = earlier.new_label if earlier else item.labels.get(text["policy"])
    seen = body.get("old_label")
    if old_must_match and (seen or None) != current:
        raise ValueError(f"the gold of {text['item_id']} for {text['policy']} is now {current!r}"
                         + (f" ({earlier.reviewer} adjudicated it)" if earlier else "")
                         + "; reload and look again")
    if text["new_label"] == current:
        raise ValueError(f"new_label {current!r} is the current gold: nothing to change")
    return Verdict(item_id=text["item_id"], policy=text["policy"], old_label=current,
                   new_label=text["new_label"], reason=text["reason"],
                   reviewer=text["reviewer"], time=now(), run_id=run_id)


def adjudicate_csv(run_dir: Path | str, csv_path: Path | str, *, reviewer: str,
                   adjudications: Path | str | None = None) -> tuple[Path, list[Verdict]]:
    """Append the verdicts of a filled-in queue CSV (``evalharness queue``): every row with a
    ``new_label``. All rows are checked first; one bad row writes nothing."""
    run = RunDir(Path(run_dir))
    manifest, items = run.read_manifest(), run.read_items()
    file = Path(adjudications) if adjudications else default_adjudication_file(manifest)
    path = Path(csv_path)
    fix = f"fill new_label and reason in the queue CSV (columns {', '.join(CSV_COLUMNS)})"
    reader = csv.DictReader(io.StringIO(read_utf8(path, AdjudicationError, fix=fix), newline=""))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise AdjudicationError(f"no `{missing[0]}` column", file=str(path), line=1,
                                field=missing[0], fix=fix)
    if not reviewer.strip():
        raise UsageError("--reviewer is empty", field="--reviewer", fix="give your name or id")
    standing = dict(latest(read_verdicts(file)))
    verdicts, problems = [], []
    for row in reader:
        if not (row.get("new_label") or "").strip():
            continue
        try:
            verdict = _checked({**row, "reviewer": reviewer}, manifest, items, standing,
                               run.run_id, old_must_match=False)
        except ValueError as exc:
            problems.append(Problem(str(exc), str(path), reader.line_num, fix=fix))
            continue
        standing[(verdict.item_id, verdict.policy)] = verdict
        verdicts.append(verdict)
    if problems:
        raise AdjudicationError(problems=problems)
    if not verdicts:
        raise AdjudicationError("no row has a new_label: no verdict to record", file=str(path),
                                field="new_label", fix=fix)
    append_verdicts(file, verdicts)
    record_in_card(file)
    return file, verdicts
