"""A run's folder: ``manifest.json``, ``items.jsonl``, ``decisions.jsonl`` and what is built from them.

Decisions are appended one JSON line at a time, each handed to the OS at once, so a crash or kill
loses at most the line being written; a torn last line is dropped when the file is read or reopened
for appending. A write that fails (disk full, file too large) is cut back off and stops the run
with one line naming the file. While a run is being written its process holds ``.lock``; a
manifest still saying ``running`` with nobody holding the lock belongs to a process that died
(killed, crashed), and is read as ``interrupted``.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..records.errors import RunDirError
from ..records import Decision, GoldenItem, Manifest, MetricsFile
from ..records.item_file import ItemFile
from ..records.table import DecisionTable, TableBuilder, canonical, concat
from .sidecar import covered_bytes, read_sidecar, write_sidecar

MANIFEST = "manifest.json"
DECISIONS = "decisions.jsonl"
DECISION_TABLE = "decisions.parquet"
ITEMS = "items.jsonl"
METRICS = "metrics.json"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RunDir:
    """Reads and writes one run's files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    # manifest -----------------------------------------------------------------------------------
    def write_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.file(MANIFEST), manifest.model_dump_json(indent=2) + "\n")

    def read_manifest(self) -> Manifest:
        path = self.file(MANIFEST)
        if not path.exists():
            raise RunDirError("no manifest.json: not a run folder", file=str(self.path),
                              fix="pass a folder that `evalharness run` wrote")
        try:
            manifest = Manifest.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise RunDirError(f"manifest.json is not valid: {exc.errors()[0]['msg']}",
                              file=str(path)) from None
        if manifest.status == "running" and not self.is_live():
            manifest.status = "interrupted"  # its process died without saying so (SIGKILL, crash)
        return manifest

    def is_live(self) -> bool:
        """Whether a process (this one included) holds the run's lock, i.e. is writing it now."""
        try:
            fh = open(self.file(".lock"))
        except OSError:
            return False
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    # items ----------------------------------------------------------------------------------------
    def write_items(self, items: Iterable[GoldenItem]) -> None:
        lines = "".join(item.model_dump_json() + "\n" for item in items)
        write_atomic(self.file(ITEMS), lines)

    def read_items(self) -> dict[str, GoldenItem]:
        return {item.id: item for _, item in _records(self.file(ITEMS), GoldenItem)}

    def item_file(self) -> ItemFile:
        """The run's golden items by id, each read when asked for (:class:`ItemFile`); every
        line is checked now."""
        lines = ((offset, item) for _, offset, item, _ in _records_at(self.file(ITEMS), GoldenItem))
        return ItemFile(self.file(ITEMS), lines)

    # decisions ------------------------------------------------------------------------------------
    def read_decisions(self) -> list[Decision]:
        """Every decision, first occurrence of each (item, policy, decider) kept, each
        :func:`_compact`, with the cyclic garbage collector paused while the list is built (a
        million new objects otherwise trigger collections that walk all of them again and
        again)."""
        seen: set[tuple[str, str, str]] = set()
        decisions = []
        strings: dict[str, str] = {}
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _, decision in _records(self.file(DECISIONS), Decision):
                if decision.key not in seen:
                    seen.add(decision.key)
                    decisions.append(_compact(decision, strings))
        finally:
            if was_enabled:
                gc.enable()
        return decisions

    def read_table(self) -> DecisionTable:
        """Every decision as columns (:class:`DecisionTable`; first occurrence of each key kept,
        as :meth:`read_decisions`). Read from ``decisions.parquet`` when it was made from these
        bytes, with the lines appended since read from ``decisions.jsonl`` and added; otherwise
        from ``decisions.jsonl`` alone. Whatever had to be parsed is written back to
        ``decisions.parquet`` so the next reader need not. Rows come in :func:`canonical` order
        (item, policy, decider), so metrics and plans do not depend on the order decisions were
        written in: concurrent calls, a resumed run and merged shards give the same numbers."""
        source = self.file(DECISIONS)
        covered = covered_bytes(self.file(DECISION_TABLE), source) if source.exists() else None
        parts = [read_sidecar(self.file(DECISION_TABLE), source)] if covered else []
        builder = TableBuilder()
        end = covered or 0
        for _, offset, decision, stop in _records_at(source, Decision, covered or 0):
            builder.add(decision, offset)
            end = stop
        if not parts or len(builder):
            parts.append(builder.build(source))
            table = concat(parts)
            if source.exists():
                write_sidecar(table, self.file(DECISION_TABLE), source, end)
            return canonical(table)
        return canonical(parts[0])

    def open_decisions(self) -> DecisionLog:
        """Open ``decisions.jsonl`` for appending, first cutting off a torn last line. The log
        collects what it writes, and on closing brings ``decisions.parquet`` up to date."""
        path = self.file(DECISIONS)
        if path.exists():
            with open(path, "rb+") as fh:
                data = fh.read()
                if data and not data.endswith(b"\n"):
                    fh.truncate(data.rfind(b"\n") + 1)
        return DecisionLog(path, on_close=self._update_table)

    def _update_table(self, start: int, written: TableBuilder, end: int) -> None:
        """After a log wrote bytes ``start:end`` (decisions ``written``): the table of the whole
        file, from the copy of what came before (or the file itself) and what was written."""
        if not len(written):
            return
        source, sidecar = self.file(DECISIONS), self.file(DECISION_TABLE)
        try:
            if start and covered_bytes(sidecar, source) != start:
                self.read_table()  # parses the file once, new lines included, and writes the copy
                return
            before = [read_sidecar(sidecar, source)] if start else []
            write_sidecar(concat([*before, written.build(source)]), sidecar, source, end)
        except (OSError, RunDirError):  # the copy is a convenience: the next reader makes it
            pass

    def drop_errors(self, deciders: set[str]) -> int:
        """Remove the ``error`` rows of ``deciders`` so a resumed run tries them again; returns how
        many."""
        if not deciders:
            return 0
        return self.drop_rows(lambda row: row.get("outcome") == "error"
                              and row.get("decider") in deciders)

    def drop_rows(self, drop: Callable[[dict[str, Any]], bool]) -> int:
        """Remove the rows of ``decisions.jsonl`` that ``drop`` picks; returns how many. The file
        is rewritten atomically, so every other row stays exactly as it was."""
        path = self.file(DECISIONS)
        if not path.exists():
            return 0
        kept, dropped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                kept.append(line)  # a torn last line: open_decisions() cuts it
                continue
            if drop(row):
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            write_atomic(path, "".join(kept))
            self.file(DECISION_TABLE).unlink(missing_ok=True)  # the copy of the old file
        return dropped

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder exclusively: a second process resuming the same run stops at once
        instead of writing every decision twice. The lock file names the holder's process id."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.file(".lock"), "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirError("another process is writing this run", file=str(self.path),
                                  fix="wait for it to finish, or stop it first") from None
            fh.truncate(0)
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # metrics --------------------------------------------------------------------------------------
    def write_metrics(self, metrics: MetricsFile) -> None:
        write_atomic(self.file(METRICS), metrics.model_dump_json(indent=2) + "\n")

    def read_metrics(self) -> MetricsFile:
        path = self.file(METRICS)
        if not path.exists():
            raise RunDirError("no metrics.json", file=str(self.path),
                              fix="finish the run first (evalharness run CONFIG --resume)")
        return MetricsFile.model_validate_json(path.read_text(encoding="utf-8"))


_Record = TypeVar("_Record", bound=BaseModel)
_ALL_FIELDS = set(Decision.model_fields)
"""The fields-set every decision written by a run has: shared by the decisions read back."""
_REPEATED = ("policy", "decider", "decider_kind", "label", "gold", "outcome", "confidence_source",
             "site", "rater")


def _compact(decision: Decision, strings: dict[str, str]) -> Decision:
    """``decision`` holding one shared copy of each repeated string (policy, decider, labels,
    outcome...) and, when every field was given, one shared fields-set: a million decisions
    read back take a third of the memory (measured: 3.8 KB -> 1.3 KB each)."""
    values = decision.__dict__
    for name in _REPEATED:
        value = values[name]
        if value is not None:
            values[name] = strings.setdefault(value, value)
    if decision.__pydantic_fields_set__ == _ALL_FIELDS:
        object.__setattr__(decision, "__pydantic_fields_set__", _ALL_FIELDS)
    return decision


def _records(path: Path, model: type[_Record]) -> Iterator[tuple[int, _Record]]:
    """Each line of a JSON-lines run file as ``model`` with its line number
    (:func:`_records_at` from the start)."""
    for line_no, _, record, _ in _records_at(path, model):
        yield line_no, record


def _records_at(path: Path, model: type[_Record], start: int = 0
                ) -> Iterator[tuple[int, int, _Record, int]]:
    """Each line of a JSON-lines run file from byte ``start`` on (a line boundary) as
    ``(line number, offset of the line, record, offset after it)``, parsed and validated in one
    step (``model_validate_json``: no intermediate dict), read line by line; a torn last line (a
    killed run was writing it: that record was not finished, and only the last line can lack
    its newline) is skipped, any other bad line is a :class:`RunDirError` naming it. Line
    numbers count from ``start``'s line (1 when ``start`` is 0); errors give the true one."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        fh.seek(start)
        offset = start
        for line_no, line in enumerate(fh, start=1):
            stop = offset + len(line)
            if line.strip():
                try:
                    record = model.model_validate_json(line)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    if err["type"] == "json_invalid" and not line.endswith(b"\n"):
                        return
                    line_no += _lines_before(path, start)
                    if err["type"] != "json_invalid":
                        raise RunDirError(err["msg"], file=str(path), line=line_no,
                                          field=".".join(map(str, err["loc"]))) from None
                    raise RunDirError("not valid JSON", file=str(path), line=line_no,
                                      fix="the file was edited or corrupted; restore it or "
                                          "rerun") from None
                yield line_no, offset, record, stop
            offset = stop


def _lines_before(path: Path, offset: int) -> int:
    """How many lines end before byte ``offset`` of ``path`` (read a MiB at a time)."""
    count = 0
    with open(path, "rb") as fh:
        while fh.tell() < offset and (chunk := fh.read(min(1 << 20, offset - fh.tell()))):
            count += chunk.count(b"\n")
    return count


class DecisionLog:
    """``decisions.jsonl`` open for appending, unbuffered: each append (one line, or a batch of
    lines in one write call) reaches the OS whole or, when the write fails, not at all (the torn
    part is cut off and every later append refused), so the file never holds a broken line
    before a good one.

    What it writes is also collected as columns; ``on_close(start, table, end)`` is handed them
    with the bytes they span when the log is closed (:meth:`RunDir.open_decisions` brings
    ``decisions.parquet`` up to date with it)."""

    def __init__(self, path: Path,
                 on_close: Callable[[int, TableBuilder, int], None] | None = None) -> None:
        self.path = path
        self._fh = open(path, "ab", buffering=0)
        self._failed: str | None = None
        self._start = self._end = self._fh.seek(0, os.SEEK_END)
        self._written = TableBuilder()
        self._on_close = on_close

    def append(self, decision: Decision) -> None:
        """Write one decision line; raise :class:`RunDirError` (exit 2) if it cannot be written."""
        self.append_many([decision])

    def append_many(self, decisions: Sequence[Decision]) -> None:
        """Write decision lines with one write call: all of them reach the OS, or (the write
        failed) none, and :class:`RunDirError` (exit 2) is raised."""
        if self._failed is None and decisions:
            lines = [(d.model_dump_json(exclude_none=False) + "\n").encode() for d in decisions]
            start = self._end  # the run's lock makes this the only writer: no seek, no tell
            data = memoryview(b"".join(lines))
            try:
                while data:  # a regular file takes all of it, or some, or raises: bounded
                    written = self._fh.write(data)
                    if not written:
                        raise OSError(errno.EIO, "the file took no bytes")
                    data = data[written:]
            except OSError as exc:
                self._failed = exc.strerror or str(exc)
                try:
                    os.ftruncate(self._fh.fileno(), start)
                except OSError:
                    pass
            else:
                offset = start
                for decision, line in zip(decisions, lines):
                    self._written.add(decision, offset)
                    offset += len(line)
                self._end = offset  # the collected rows now hold every byte up to here
        if self._failed is not None:
            raise RunDirError(
                f"cannot write a decision: {self._failed} (disk full or file too large)",
                file=str(self.path),
                fix="free some space (or raise the file size limit), then rerun with --resume: "
                    "every decision written before this one is kept")

    def close(self, *, hand_over: bool = True) -> None:
        """Close the file; hand the collected columns to ``on_close`` unless told not to."""
        if self._fh.closed:
            return
        self._fh.close()
        if self._on_close is not None and hand_over:
            self._on_close(self._start, self._written, self._end)

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # an exception (Ctrl-C too) may have cut an append between its bytes and its rows: the
        # columnar copy is left as it was, and the next reader parses what it does not cover
        self.close(hand_over=exc_type is None)
