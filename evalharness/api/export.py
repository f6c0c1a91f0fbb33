"""``evalharness export``: a run's decisions, metrics and routing plan as flat tables, for a
warehouse (Parquet, CSV) or a policy owner's spreadsheet (one xlsx workbook).

Every table is flat: nested fields become dotted columns (``meta.market``, ``score.hate``,
``usage.prompt_tokens``, ``accuracy.low``); list values are JSON text. Spreadsheet cells are
always written as values, never as formulas, so an item text that starts with ``=`` stays text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..execution.rundir import RunDir
from ..records import Usage
from ..records.errors import RunDirError, UsageError

__all__ = ["EXPORT_FORMATS", "export_run"]

EXPORT_FORMATS = ("parquet", "csv", "xlsx")
EXCEL_ROWS = 1_048_575
"""Rows an Excel sheet holds below its header."""


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted column, scalar) pairs of a nested mapping; lists become JSON text."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        yield prefix, json.dumps(value, ensure_ascii=False)
    else:
        yield prefix, value


def _decision_rows(run: RunDir) -> Iterator[dict[str, Any]]:
    blank = {key: None for key in Usage.model_fields}
    for d in run.read_decisions():
        row = d.model_dump(mode="json", exclude={"scores", "meta", "usage"})
        row.setdefault("text_only", False)  # left out of the JSON line when false: a column here
        row.setdefault("bundle", None)
        row.update(_flat({"score": d.scores or {},
                          "usage": d.usage.model_dump() if d.usage else blank, "meta": d.meta}))
        yield row


def _metric_rows(run: RunDir) -> list[dict[str, Any]]:
    metrics = run.read_metrics()
    rows = []
    for r in metrics.results:
        row = r.model_dump(mode="json", exclude={"slice", "confusion", "labels", "score_quality",
                                                 "production", "ordinal", "accuracy_vs_best"})
        head = {"slice_key": r.slice.key if r.slice else None,
                "slice_value": r.slice.value if r.slice else None}
        extra = {"confusion": r.confusion, "labels": r.labels}
        if r.accuracy_vs_best is not None:
            extra["vs_best"] = r.accuracy_vs_best.model_dump(mode="json")
        if r.score_quality is not None:
            extra["scores"] = r.score_quality.model_dump(mode="json", exclude={"reliability"})
        if r.production is not None:
            extra["production"] = r.production.model_dump(mode="json")
        if r.ordinal is not None:
            extra["ordinal"] = r.ordinal.model_dump(mode="json", exclude={"by_action"})
        rows.append({**head, **dict(_flat(row)), **dict(_flat(extra))})
    return rows


def _routing_rows(run: RunDir) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(one row per plan tier, one row per claim) of the run's ``routing.yaml``, if any."""
    path = run.file("routing.yaml")
    if not path.is_file():
        return [], []
    from ..records.routing import RoutingPlan

    plan = RoutingPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    tiers, claims = [], []
    for p in plan.policies:
        m = p.plan.production or p.plan.expected
        for t in p.plan.tiers:
            share = next((s for s in m.tiers if s.decider == t.decider), None)
            tiers.append({
                "policy": p.policy, "status": p.status, "plan": p.plan.name,
                "verdict": p.plan.verdict, "position": t.position, "decider": t.decider,
                "kind": t.kind, "role": t.role,
                "auto_action": t.auto_action.rule if t.auto_action else None,
                "auto_action_threshold": t.auto_action.threshold if t.auto_action else None,
                "auto_clear": t.auto_clear.rule if t.auto_clear else None,
                "auto_clear_threshold": t.auto_clear.threshold if t.auto_clear else None,
                "share_seen": share.seen if share else None,
                "share_decided": share.decided.value if share else None,
                "plan_precision": m.violating_precision.value,
                "plan_recall": m.violating_recall.value,
                "plan_cost_per_item_usd": m.cost_per_decision_usd,
                "plan_cost_per_day_usd": m.cost_per_day_usd})
        for c in p.plan.claims():
            claims.append({"policy": p.policy, "plan": p.plan.name, **dict(_flat(
                c.model_dump(mode="json")))})
    return tiers, claims


def export_run(run_dir: Path | str, fmt: str = "parquet",
               out_dir: Path | str | None = None) -> list[Path]:
    """Write the run's tables (``decisions``, ``metrics``, and after ``route`` ``routing_tiers``
    and ``routing_claims``) in ``fmt`` into ``out_dir`` (default ``RUN/export/``): one file per
    table for Parquet and CSV, one workbook with a sheet per table for xlsx. Returns the files."""
    import pandas as pd

    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown format {fmt!r}", field="--format",
                         fix=f"use one of {list(EXPORT_FORMATS)}")
    run = RunDir(Path(run_dir))
    if not run.file("decisions.jsonl").is_file():
        raise RunDirError("no decisions.jsonl", file=str(run.path),
                          fix="export a folder written by evalharness run")
    if not run.file("metrics.json").is_file():
        raise RunDirError("no metrics.json", file=str(run.path),
                          fix="finish the run, or run evalharness report RUN first")
    tiers, claims = _routing_rows(run)
    tables = {"decisions": pd.DataFrame(list(_decision_rows(run))),
              "metrics": pd.DataFrame(_metric_rows(run))}
    if tiers:
        tables |= {"routing_tiers": pd.DataFrame(tiers), "routing_claims": pd.DataFrame(claims)}
    if tables["decisions"].empty:
        raise RunDirError("no decisions to export", file=str(run.file("decisions.jsonl")),
                          fix="nothing passes on nothing: finish the run first")
    tables = {name: _uniform(table) for name, table in tables.items()}
    out = Path(out_dir) if out_dir is not None else run.path / "export"
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        too_big = [name for name, t in tables.items() if len(t) > EXCEL_ROWS]
        if too_big:
            raise UsageError(f"{too_big[0]} has {len(tables[too_big[0]]):,} rows, more than an "
                             "Excel sheet holds", field="--format",
                             fix="export as parquet or csv")
        path = out / f"{run.path.name}.xlsx"
        _write_xlsx(path, tables.items())
        return [path]
    paths = []
    for name, table in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        paths.append(path)
    return paths


def _uniform(table: Any) -> Any:
    """The table with each column of mixed Python types (a meta key that is a number on some
    items and text on others) as text, so columnar formats can type it."""
    for column in table.columns:
        kinds = {type(v) for v in table[column].dropna()}
        if len(kinds) > 1:
            table[column] = table[column].map(lambda v: v if v is None or v != v else str(v))
    return table


def _write_xlsx(path: Path, tables: Iterable[tuple[str, Any]]) -> None:
    """A workbook with one sheet per table; every string a value (never a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    for name, table in tables:
        sheet = book.create_sheet(title=name[:31])
        sheet.append([str(c) for c in table.columns])
        for values in table.itertuples(index=False, name=None):
            cells = []
            for value in values:
                if value is None or (isinstance(value, float) and value != value):
                    cells.append(None)
                    continue
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text that starts with "=" stays text
                cells.append(cell)
            sheet.append(cells)
    tmp = path.with_name(f".{path.name}.tmp")
    book.save(tmp)
    tmp.replace(path)
