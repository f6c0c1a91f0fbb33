"""Read a production QA sample of a deployed plan: one row per QA'd item — which tier decided it,
what it decided, what QA says, and when (CSV or Parquet)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from .textfile import read_utf8
from ..records.errors import Problem, QaFileError, did_you_mean
from ..records.monitor import QaRow

__all__ = ["QA_COLUMNS", "cell_text", "parse_time", "read_qa_file", "read_table_rows"]

QA_COLUMNS = ("item_id", "tier", "decided", "qa", "date")
"""Required columns; ``policy`` is required too when the plan has several policies."""


def read_table_rows(path: Path, required: tuple[str, ...],
                    fix: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) of a CSV or Parquet file whose header has the ``required`` columns."""
    if not path.is_file():
        raise QaFileError("file not found", file=str(path), fix="check the path")
    if path.name.lower().endswith(".parquet"):
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for unreadable files
            raise QaFileError(f"cannot read parquet: {exc}", file=str(path), fix=fix) from None
        header = [str(c) for c in frame.columns]
        rows = [(i, {str(k): v for k, v in r.items()})
                for i, r in enumerate(frame.to_dict(orient="records"), start=1)]
    else:
        reader = csv.DictReader(io.StringIO(read_utf8(path, QaFileError, fix=fix), newline=""))
        header = list(reader.fieldnames or [])
        rows = [(reader.line_num, dict(r)) for r in reader]
    missing = [c for c in required if c not in header]
    if missing:
        close = did_you_mean(missing[0], header)
        raise QaFileError(f"no `{missing[0]}` column" + (f" (did you mean `{close}`?)" if close
                                                         else "") + f"; the columns are {header}",
                          file=str(path), line=1, field=missing[0], fix=fix)
    return rows


def parse_time(value: Any) -> dt.datetime | None:
    """A date or timestamp cell (ISO 8601 text, or a pandas Timestamp) as a datetime, in UTC
    when it says its zone; None when it is empty or no date."""
    if _missing(value):
        return None
    if hasattr(value, "to_pydatetime"):
        when = value.to_pydatetime()
    elif isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            when = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return when.astimezone(dt.timezone.utc) if when.tzinfo else when


def _missing(value: Any) -> bool:
    """An empty cell: None, NaN or NaT (a Parquet null read through pandas)."""
    try:
        return value is None or bool(value != value)
    except (TypeError, ValueError):
        return False


def cell_text(value: Any) -> str:
    """A cell as stripped text ('' when empty)."""
    return "" if _missing(value) else str(value).strip()


def read_qa_file(path: Path) -> list[QaRow]:
    """Every row of the QA file; one exit-2 error per bad row (up to 20), naming line and field."""
    fix = ("give columns item_id, tier (the decider that decided), decided, qa (QA's label), date "
           "(YYYY-MM-DD), and policy when the plan has several")
    out, problems = [], []
    seen: dict[tuple[str, str], int] = {}
    for line, row in read_table_rows(path, QA_COLUMNS, fix):
        cells = {k: cell_text(v) for k, v in row.items()}
        empty = [c for c in QA_COLUMNS if not cells.get(c)]
        if empty:
            problems.append(Problem(f"empty {empty[0]}", str(path), line, empty[0], fix))
            continue
        when = parse_time(row["date"])
        if when is None:
            problems.append(Problem(f"{cells['date']!r} is not a date", str(path), line, "date",
                                    "write dates as YYYY-MM-DD (or ISO 8601 timestamps)"))
            continue
        key = (cells.get("policy", ""), cells["item_id"])
        if key in seen:
            problems.append(Problem(f"item {cells['item_id']!r} is QA'd twice (first on line "
                                    f"{seen[key]})", str(path), line, "item_id",
                                    "keep one QA row per item (and policy)"))
            continue
        seen[key] = line
        year, week, _ = when.isocalendar()
        out.append(QaRow(line, cells["item_id"], cells.get("policy") or None, cells["tier"],
                         cells["decided"], cells["qa"], f"{year}-W{week:02d}"))
    if problems:
        raise QaFileError(problems=problems[:20])
    if not out:
        raise QaFileError("no QA rows", file=str(path),
                          fix="nothing passes on nothing: add the week's QA sample")
    return out
