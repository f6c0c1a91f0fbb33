"""A BPO vendor's QA export (rater id, site, item id, label, handling seconds, timestamp) as
annotations of a golden set's items, so human tiers and site scorecards use the vendor's real
judgments and handling times. The source golden set is never edited: a new file is written."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..execution.rundir import write_atomic
from ..inputs.goldens import read_golden_set
from ..inputs.qa_file import cell_text, parse_time, read_table_rows
from ..records import Annotation
from ..records.errors import Problem, QaFileError

__all__ = ["BPO_COLUMNS", "BpoImport", "import_bpo_qa"]

BPO_COLUMNS = ("rater_id", "site", "item_id", "label", "handling_seconds", "timestamp")


@dataclass(frozen=True)
class BpoImport:
    judgments: int
    raters: int
    sites: int
    items: int
    """Items of the golden set that got at least one judgment."""
    handling_seconds: float


def import_bpo_qa(export: Path | str, golden_set: Path | str, policy: str,
                  out: Path | str) -> BpoImport:
    """Add every row of ``export`` as an :class:`~evalharness.records.Annotation` (labels
    ``{policy: label}``, the rater's site and handling seconds, the timestamp in ``meta``) to the
    item of ``golden_set`` it names; write the items to ``out`` (JSONL). One exit-2 line per bad
    row: an unknown item, a negative or missing time, a rater judging an item twice."""
    export, golden_set, out = Path(export), Path(golden_set), Path(out)
    if out.resolve() == golden_set.resolve():
        raise QaFileError("--out is the golden set itself", file=str(out), field="--out",
                          fix="write to a new file: the source golden set is never edited")
    items = read_golden_set(golden_set)
    by_id = {item.id: item for item in items}
    labels = sorted({item.labels[policy] for item in items if policy in item.labels})
    if not labels:
        raise QaFileError(f"no item of {golden_set.name} has a gold label for policy {policy!r}",
                          field="--policy", fix="name the policy the golden set is labeled for")
    fix = "columns: " + ", ".join(BPO_COLUMNS)
    problems, seen, added = [], set(), []
    for line, row in read_table_rows(export, BPO_COLUMNS, fix):
        cells = {k: cell_text(v) for k, v in row.items()}
        where = (str(export), line)
        empty = [c for c in BPO_COLUMNS if not cells.get(c)]
        if empty:
            problems.append(Problem(f"empty {empty[0]}", *where, empty[0], fix))
            continue
        item = by_id.get(cells["item_id"])
        if cells["label"] not in labels:
            problems.append(Problem(f"{cells['label']!r} is not a label of {policy} in this "
                                    "golden set", *where, "label", f"use one of {labels}"))
            continue
        if item is None:
            problems.append(Problem(f"item {cells['item_id']!r} is not in {golden_set.name}",
                                    *where, "item_id", "export only the golden set's items"))
            continue
        try:
            seconds = float(cells["handling_seconds"])
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            problems.append(Problem(f"{cells['handling_seconds']!r} is not a number of seconds",
                                    *where, "handling_seconds", "write seconds, e.g. 42.5"))
            continue
        when = parse_time(row["timestamp"])
        if when is None:
            problems.append(Problem(f"{cells['timestamp']!r} is not a timestamp", *where,
                                    "timestamp", "write ISO 8601, e.g. 2026-11-30T14:05:00"))
            continue
        key = (item.id, cells["rater_id"])
        already = any(a.rater == cells["rater_id"] and policy in a.labels
                      for a in item.annotations)
        if key in seen or already:
            problems.append(Problem(f"rater {cells['rater_id']!r} judged item {item.id!r} on "
                                    f"{policy} twice", *where, "rater_id",
                                    "keep one judgment per rater and item"))
            continue
        seen.add(key)
        added.append((item, Annotation(rater=cells["rater_id"], site=cells["site"],
                                       labels={policy: cells["label"]}, seconds=seconds,
                                       meta={"timestamp": when.isoformat()})))
    if problems:
        raise QaFileError(problems=problems[:20])
    if not added:
        raise QaFileError("no judgments", file=str(export), fix="nothing passes on nothing")
    for item, annotation in added:
        item.annotations.append(annotation)
    for item in items:  # relative image paths must still find their files from the new folder
        item.images = [_moved(ref, golden_set.parent, out.parent) for ref in item.images]
    write_atomic(out, "".join(item.model_dump_json() + "\n" for item in items))
    return BpoImport(judgments=len(added), raters=len({a.rater for _, a in added}),
                     sites=len({a.site for _, a in added}),
                     items=len({item.id for item, _ in added}),
                     handling_seconds=sum(a.seconds or 0.0 for _, a in added))


def _moved(ref: str, old: Path, new: Path) -> str:
    """An image reference relative to ``old`` made relative to ``new`` (data URLs and absolute
    paths unchanged)."""
    if ref.startswith("data:") or Path(ref).is_absolute():
        return ref
    return os.path.relpath((old / ref).resolve(), new.resolve())
