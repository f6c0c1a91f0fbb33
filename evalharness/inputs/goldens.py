"""Read golden sets (JSONL, CSV, Parquet, local Hugging Face datasets) with row-level checks."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .config import DEFAULT_MAX_ITEM_CHARS
from ..records.errors import GoldenSetError, Problem, did_you_mean
from ..records import GoldenItem
from .policies import Prompt, missing_parts
from .images import as_ref, image_problem
from .textfile import read_utf8

MAX_REPORTED_PROBLEMS = 20
MAX_SCANNED_PROBLEMS = 1000
"""Rows checked for problems before stopping; alike problems are reported as one line."""
REQUIRED_COLUMNS = ("id", "text")


def _detect_format(path: Path) -> str:
    if path.is_dir():
        return "hf"
    name = path.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".json", "jsonl"),
                        (".csv", "csv"), (".csv.gz", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise GoldenSetError(
        "cannot tell the file format from its name",
        file=str(path),
        field="format",
        fix="name it .jsonl, .jsonl.gz, .csv or .parquet, or set golden_set.format",
    )


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    text = read_utf8(path, GoldenSetError, fix="check golden_set.path")
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldenSetError(
                f"not valid JSON: {exc.msg} (column {exc.colno})",
                file=str(path),
                line=line_no,
                fix="each line must be one JSON object",
            ) from None


def _plain(value: Any) -> Any:
    """Arrow/pandas values as plain Python: arrays become lists, numpy scalars Python scalars,
    and nulls inside mappings are dropped (a struct column fills in null for a missing key)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not _missing(v)}
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """Turn table columns ``labels.x`` / ``meta.y`` / ``fields.z`` (or JSON-encoded ``labels``,
    ``context``...) into nested values."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        value = _plain(value)
        if _missing(value):
            continue
        if key in ("labels", "meta", "annotations", "scores") and isinstance(value, str):
            value = json.loads(value)
        elif key in ("fields", "context", "images") and isinstance(value, str) and value[:1] in "[{":
            value = json.loads(value)  # free text stays text: a context column of one turn
        if key == "images":
            value = [as_ref(v) for v in value] if isinstance(value, list) else as_ref(value)
        head, dot, tail = key.partition(".")
        if dot and head in ("labels", "meta", "fields"):
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def _check_columns(path: Path, columns: Sequence[str], line: int | None) -> None:
    """One error about the header when a required column is missing (not one per row)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        close = [f"`{m}` (did you mean `{c}`?)" if (c := did_you_mean(m, columns)) else f"`{m}`"
                 for m in missing]
        raise GoldenSetError(
            f"no {' or '.join(close)} column; the columns are {list(columns)}",
            file=str(path), line=line, field=missing[0],
            fix="name the columns id and text; labels.<policy>, meta.<key> and annotations are optional",
        )


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    text = read_utf8(path, GoldenSetError, fix="check golden_set.path")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            return
        _check_columns(path, header, 1)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header) and not any(row[len(header):]):
                row = row[:len(header)]  # trailing commas (a spreadsheet's empty columns)
            if len(row) != len(header):
                short = f"; no {', '.join(header[len(row):])}" if len(row) < len(header) else ""
                raise GoldenSetError(
                    f"{len(row)} fields, but the header has {len(header)} "
                    f"({', '.join(header)}){short}", file=str(path), line=line,
                    fix='quote a value that holds a comma: "like, this"; leave an empty value '
                        'between commas',
                )
            values = {k: v for k, v in zip(header, row) if v != ""}
            try:
                yield line, _unflatten(values)
            except json.JSONDecodeError as exc:
                raise GoldenSetError(
                    f"a JSON column is not valid JSON: {exc.msg}", file=str(path), line=line,
                    fix='write it as JSON, e.g. [{"rater": "r1", "labels": {"hate_speech": "none"}}]',
                ) from None
    except csv.Error as exc:
        raise GoldenSetError(f"not valid CSV: {exc}", file=str(path), line=reader.line_num,
                             fix="check the quoting on this line") from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise GoldenSetError(f"cannot read parquet: {exc}", file=str(path),
                             fix="check that it is a Parquet file") from None
    _check_columns(path, [str(c) for c in frame.columns], None)
    for line, row in enumerate(frame.to_dict(orient="records"), start=1):
        try:
            yield line, _unflatten(row)
        except json.JSONDecodeError as exc:
            raise GoldenSetError(f"a JSON column is not valid JSON: {exc.msg}", file=str(path),
                                 line=line, fix="write it as JSON") from None


def _hf_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise GoldenSetError(
            f"cannot load as a Hugging Face dataset folder: {exc}",
            file=str(path),
            fix="save it with Dataset.save_to_disk(), or export it to JSONL",
        ) from None
    if isinstance(dataset, datasets.DatasetDict):
        raise GoldenSetError(
            f"holds several splits {list(dataset)}", file=str(path), fix="point at one split's folder"
        )
    dataset = _undecoded_images(dataset)
    for i, row in enumerate(dataset, start=1):
        try:
            yield i, _unflatten(dict(row))
        except json.JSONDecodeError as exc:
            raise GoldenSetError(f"a JSON column is not valid JSON: {exc.msg}", file=str(path),
                                 line=i, fix="write it as JSON") from None


def _undecoded_images(dataset: Any) -> Any:
    """The dataset with an ``images`` column of image features read as bytes, not decoded."""
    import datasets

    feature = dataset.features.get("images")
    inner = getattr(feature, "feature", None)
    if isinstance(feature, datasets.Image):
        return dataset.cast_column("images", datasets.Image(decode=False))
    if isinstance(inner, datasets.Image):
        return dataset.cast_column("images", type(feature)(datasets.Image(decode=False)))
    return dataset


def _row_problem(err: Any, path: Path, line: int, row: dict[str, Any]) -> Problem:
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] == "missing":
        close = did_you_mean(field, row) if len(err["loc"]) == 1 else None
        seen = f" (this row has `{close}`: rename it)" if close else " to this row"
        return Problem("required field is missing", str(path), line, field, f"add `{field}`{seen}")
    return Problem(err["msg"], str(path), line, field,
                   "see the golden set format in README.md (## Golden sets)")


def _grouped(problems: list[Problem]) -> list[Problem]:
    """The same problem on many rows (e.g. a misnamed column) as one line naming the others."""
    groups: dict[tuple[str | None, str | None, str], list[Problem]] = {}
    for p in problems:  # alike: the same message but for quoted values (ids) and numbers
        alike = re.sub(r"\d+", "#", re.sub(r"'[^']*'", "'…'", p.message))
        groups.setdefault((p.field, p.fix, alike), []).append(p)
    out = []
    for same in groups.values():
        first = same[0]
        if len(same) > 1:
            where = [str(p.line) for p in same[1:6] if p.line is not None]
            lines = f": line {', '.join(where)}{', ...' if len(same) > 6 else ''}" if where else ""
            first = replace(first, message=f"{first.message} (also on {len(same) - 1} more "
                                           f"rows{lines})")
        out.append(first)
    return out


def _too_long(items: Sequence[GoldenItem], limit: int, path: Path) -> Problem:
    """One problem for every item over the size limit, at the first of them."""
    first = items[0]
    more = f" (and {len(items) - 1} more items over it)" if len(items) > 1 else ""
    where = "text" if first.chars == len(first.text) else "text, fields and context"
    return Problem(f"item {first.id!r} is {first.chars:,} characters ({where}), over the "
                   f"limit of {limit:,}{more}", str(path), first._line, "text",
                   "shorten or split the item, or raise golden_set.max_item_chars in the config")


def _short(ref: str) -> str:
    return repr(ref if len(ref) <= 60 else ref[:40] + "...")


def read_golden_set(path: Path, fmt: str = "auto", *,
                    max_item_chars: int | None = DEFAULT_MAX_ITEM_CHARS) -> list[GoldenItem]:
    """Every item of the file at ``path``; raises :class:`GoldenSetError` naming bad rows.

    An item whose text, fields and turns exceed ``max_item_chars`` characters is an error (None:
    no limit)."""
    if not path.exists():
        raise GoldenSetError("file not found", file=str(path), fix="check golden_set.path")
    fmt = _detect_format(path) if fmt == "auto" else fmt
    readers = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows, "hf": _hf_rows}
    if fmt not in readers:
        raise GoldenSetError(f"unknown format {fmt!r}", file=str(path), field="format",
                             fix=f"use one of {sorted(readers)}")
    rows: Iterable[tuple[int, Any]] = readers[fmt](path)
    items: list[GoldenItem] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    oversized: list[GoldenItem] = []
    for line_no, row in rows:
        if len(problems) >= MAX_SCANNED_PROBLEMS:
            break
        if not isinstance(row, dict):
            problems.append(Problem(f"expected a JSON object, got {type(row).__name__}",
                                    str(path), line_no,
                                    fix='each line must be an object like {"id": "a1", "text": "..."}'))
            continue
        try:
            item = GoldenItem.model_validate(row)
        except ValidationError as exc:
            problems += [_row_problem(err, path, line_no, row) for err in exc.errors()]
            continue
        item._line = line_no
        item._image_dir = path if path.is_dir() else path.parent
        problems += [Problem(f"item {item.id!r}: image {_short(ref)} {problem}", str(path), line_no,
                             f"images[{i}]", "give a PNG, JPEG, GIF or WebP file beside the "
                             "golden set (a relative path), or a data: URL")
                     for i, ref in enumerate(item.images)
                     if (problem := image_problem(ref, item._image_dir))]
        if max_item_chars is not None and item.chars > max_item_chars:
            oversized.append(item)
        if item.id in seen:
            problems.append(
                Problem(f"duplicate id {item.id!r} (first on line {seen[item.id]})",
                        str(path), line_no, "id", "ids must be unique")
            )
        seen.setdefault(item.id, line_no)
        items.append(item)
    if oversized:
        problems.append(_too_long(oversized, max_item_chars or 0, path))
    if problems:
        raise GoldenSetError(problems=_grouped(problems)[:MAX_REPORTED_PROBLEMS])
    if not items:
        raise GoldenSetError("no items", file=str(path),
                             fix='the golden set is empty: add one item per line, '
                                 'e.g. {"id": "a1", "text": "...", "labels": {...}}')
    _derive_slice_keys(items)
    return items


DERIVED_SLICE_KEYS = {"has_context": "context", "has_images": "images"}
"""Slice keys the reader adds to ``meta`` (true/false) for every item of a set in which some item
has that part, unless the set gives them itself: ``slice_by: [has_context]`` compares items
with earlier turns against items without."""


def _derive_slice_keys(items: Sequence[GoldenItem]) -> None:
    for key, part in DERIVED_SLICE_KEYS.items():
        if any(getattr(item, part) for item in items):
            for item in items:
                item.meta.setdefault(key, bool(getattr(item, part)))


def check_labels(
    items: Sequence[GoldenItem], policy_labels: dict[str, list[str]], source: str
) -> None:
    """Every gold and rater label of the given policies must be in that policy's label set."""
    problems = []
    for i, item in enumerate(items, start=1):
        judged = [("labels", item.labels)] + [
            (f"annotations[{a.rater}].labels", a.labels) for a in item.annotations
        ]
        for where, labels in judged:
            for policy, label in labels.items():
                allowed = policy_labels.get(policy)
                if allowed is not None and label not in allowed:
                    close = did_you_mean(label, allowed)
                    hint = f"did you mean {close!r}? Labels are" if close else "use one of"
                    problems.append(Problem(
                        f"item {item.id!r}: {label!r} is not a label of policy {policy}",
                        source, item._line, f"{where}.{policy}", f"{hint} {allowed}",
                    ))
    if problems:
        raise GoldenSetError(problems=_grouped(problems)[:MAX_REPORTED_PROBLEMS])


def check_prompt_parts(items: Sequence[GoldenItem], shown: dict[str, list[tuple[str, Prompt]]],
                       source: str) -> None:
    """Every item with gold for a policy has the parts (``fields.<name>``, ``meta.<key>``) that
    the prompts deciders show it with use; ``shown``: policy id -> (where, prompt)."""
    problems = []
    for item in items:
        for policy, prompts in shown.items():
            if policy not in item.labels:
                continue
            for where, prompt in prompts:
                for part in missing_parts(prompt, item):
                    problems.append(Problem(
                        f"item {item.id!r} has no {part}, which {where} shows ({{{part}}})",
                        source, item._line, part,
                        f"give every item {part}, or take {{{part}}} out of the prompt",
                    ))
    if problems:
        raise GoldenSetError(problems=_grouped(problems)[:MAX_REPORTED_PROBLEMS])
