"""Read raw source files; every problem becomes a :class:`GoldenSetError` naming file and row."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from ..records.errors import GoldenSetError

SOURCE_FIX = "pass --source DIR pointing at the golden_data folder that holds one sub-folder per set"


def fail(
    message: str,
    path: Path,
    line: int | None = None,
    field: str | None = None,
    fix: str | None = None,
) -> NoReturn:
    """Raise a :class:`GoldenSetError` about ``path`` (and the row at ``line``)."""
    raise GoldenSetError(message, file=str(path), line=line, field=field, fix=fix)


def source_file(folder: Path, name: str) -> Path:
    """``folder/name``, or an error saying which of the two is missing."""
    if not folder.is_dir():
        fail("source folder not found", folder, fix=SOURCE_FIX)
    path = folder / name
    if not path.is_file():
        fail("source file not found", path, fix=f"restore {name} in {folder} (see its SOURCE.md)")
    return path


def _decode_error(path: Path, exc: UnicodeDecodeError) -> NoReturn:
    fail(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path, fix="re-copy the file byte-for-byte")


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each CSV row (header first) with the line number it starts on."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            start = 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        _decode_error(path, exc)
    except csv.Error as exc:
        fail(f"cannot parse CSV: {exc}", path, start, fix="check quoting on that row")


def csv_records(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as dicts after checking the header equals ``columns`` and every row's field count."""
    rows = csv_rows(path)
    header = next(rows, (1, []))[1]
    if header != columns:
        fail(f"header is {header}, expected {columns}", path, 1, fix="use the file named in SOURCE.md")
    for line, row in rows:
        if len(row) != len(columns):
            fail(f"{len(row)} fields, expected {len(columns)}", path, line, fix="check quoting on that row")
        yield line, dict(zip(columns, row, strict=True))


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each JSON object of a JSON Lines file (gzip'd when the name ends in .gz) with its line number."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    fail(f"not valid JSON: {exc.msg}", path, line, fix="each line must be one JSON object")
                if not isinstance(row, dict):
                    fail("expected a JSON object", path, line)
                yield line, row
    except UnicodeDecodeError as exc:
        _decode_error(path, exc)
    except (OSError, EOFError) as exc:
        fail(f"cannot read: {exc}", path, fix="re-copy the file byte-for-byte")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Each line (without its newline) with its 1-based number; a final newline adds no line."""
    try:
        text = path.read_bytes().decode("utf-8")  # no newline translation: texts keep any \r
    except UnicodeDecodeError as exc:
        _decode_error(path, exc)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    yield from enumerate(lines, start=1)
