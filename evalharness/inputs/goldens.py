"""Read golden sets (JSONL, CSV, Parquet, local Hugging Face datasets) with row-level checks."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .config import GoldenSetSpec, SampleSpec
from ..records.errors import GoldenSetError, Problem
from ..records import GoldenItem

MAX_REPORTED_PROBLEMS = 20


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
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise GoldenSetError(
                    f"not valid JSON: {exc.msg}",
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
    """Turn table columns ``labels.x`` / ``meta.y`` (or JSON-encoded ``labels``) into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        value = _plain(value)
        if _missing(value):
            continue
        if key in ("labels", "meta", "annotations", "scores") and isinstance(value, str):
            value = json.loads(value)
        head, dot, tail = key.partition(".")
        if dot and head in ("labels", "meta"):
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def _table_rows(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    import pandas as pd

    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                                index_col=False)
            first_line = 2  # line 1 is the header
        else:
            frame = pd.read_parquet(path)
            first_line = 1
    except Exception as exc:  # pandas raises many types for unreadable files
        raise GoldenSetError(f"cannot read {fmt}: {exc}", file=str(path)) from None
    for offset, row in enumerate(frame.to_dict(orient="records")):
        try:
            yield first_line + offset, _unflatten(row)
        except json.JSONDecodeError as exc:
            raise GoldenSetError(
                f"a JSON column is not valid JSON: {exc.msg}", file=str(path), line=first_line + offset
            ) from None


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
    for i, row in enumerate(dataset, start=1):
        yield i, _unflatten(dict(row))


def read_golden_set(path: Path, fmt: str = "auto") -> list[GoldenItem]:
    """Every item of the file at ``path``; raises :class:`GoldenSetError` naming bad rows."""
    if not path.exists():
        raise GoldenSetError("file not found", file=str(path), fix="check golden_set.path")
    fmt = _detect_format(path) if fmt == "auto" else fmt
    rows: Iterable[tuple[int, Any]]
    rows = {"jsonl": _jsonl_rows, "hf": _hf_rows}.get(fmt, lambda p: _table_rows(p, fmt))(path)
    items: list[GoldenItem] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line_no, row in rows:
        if not isinstance(row, dict):
            problems.append(Problem("expected an object", str(path), line_no))
            continue
        try:
            item = GoldenItem.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                problems.append(Problem(err["msg"], str(path), line_no, field))
            if len(problems) >= MAX_REPORTED_PROBLEMS:
                break
            continue
        if item.id in seen:
            problems.append(
                Problem(f"duplicate id {item.id!r} (first on line {seen[item.id]})",
                        str(path), line_no, "id", "ids must be unique")
            )
        seen.setdefault(item.id, line_no)
        items.append(item)
        if len(problems) >= MAX_REPORTED_PROBLEMS:
            break
    if problems:
        raise GoldenSetError(problems=problems)
    if not items:
        raise GoldenSetError("no items", file=str(path), fix="the golden set is empty")
    return items


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
                    problems.append(Problem(
                        f"item {item.id!r}: {label!r} is not a label of policy {policy}",
                        source, None, f"{where}.{policy}", f"use one of {allowed}",
                    ))
        if len(problems) >= MAX_REPORTED_PROBLEMS:
            break
    if problems:
        raise GoldenSetError(problems=problems)


def field_value(item: GoldenItem, field: str) -> Any:
    """Value of ``id``, ``meta.<key>`` or ``labels.<policy>`` (None when absent)."""
    if field == "id":
        return item.id
    head, _, key = field.partition(".")
    return getattr(item, head, {}).get(key) if head in ("meta", "labels") else None


def _matches(value: Any, wanted: Any) -> bool:
    wanted_set = {str(w) for w in (wanted if isinstance(wanted, list) else [wanted])}
    values = value if isinstance(value, list) else [value]
    return any(v is not None and str(v) in wanted_set for v in values)


def filter_items(items: Sequence[GoldenItem], filters: dict[str, Any]) -> list[GoldenItem]:
    return [
        item for item in items
        if all(_matches(field_value(item, f), wanted) for f, wanted in filters.items())
    ]


def sample_items(items: Sequence[GoldenItem], spec: SampleSpec) -> list[GoldenItem]:
    """A seeded sample, in id order, stratified when ``spec.stratify_by`` is set."""
    ordered = sorted(items, key=lambda it: it.id)
    total = len(ordered)
    want = spec.n if spec.n is not None else max(1, round(total * (spec.fraction or 1.0)))
    if want >= total:
        return ordered
    rng = np.random.default_rng(spec.seed)
    if not spec.stratify_by:
        keep = rng.choice(total, size=want, replace=False)
        return [ordered[i] for i in sorted(keep)]
    strata: dict[str, list[int]] = {}
    for i, item in enumerate(ordered):
        strata.setdefault(str(field_value(item, spec.stratify_by)), []).append(i)
    # largest-remainder allocation so the sizes add up to exactly `want`
    quotas = {k: want * len(v) / total for k, v in strata.items()}
    sizes = {k: int(q) for k, q in quotas.items()}
    for k in sorted(quotas, key=lambda k: (sizes[k] - quotas[k], k))[: want - sum(sizes.values())]:
        sizes[k] += 1
    chosen: list[int] = []
    for key in sorted(strata):
        members = strata[key]
        chosen.extend(members[i] for i in rng.choice(len(members), size=sizes[key], replace=False))
    return [ordered[i] for i in sorted(chosen)]


def select_items(spec: GoldenSetSpec, path: Path) -> list[GoldenItem]:
    """Read, filter and sample a golden set as a config describes it."""
    items = read_golden_set(path, spec.format)
    if spec.filter:
        items = filter_items(items, spec.filter)
        if not items:
            raise GoldenSetError(
                "the filter keeps no items", file=str(path), field="golden_set.filter",
                fix="check the filter's field names and values",
            )
    if spec.sample:
        key = spec.sample.stratify_by
        if key and not any(field_value(item, key) is not None for item in items):
            raise GoldenSetError(
                f"no item has {key}", file=str(path), field="golden_set.sample.stratify_by",
                fix="use id, meta.<key> or labels.<policy> that the items have",
            )
        items = sample_items(items, spec.sample)
    return items


def selection_hash(items: Iterable[GoldenItem]) -> str:
    """sha256 over the selected items' content, independent of file layout."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda it: it.id):
        digest.update(item.model_dump_json().encode())
        digest.update(b"\n")
    return digest.hexdigest()
