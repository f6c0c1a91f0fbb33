"""``decisions.parquet``: a columnar copy of ``decisions.jsonl`` (a :class:`DecisionTable`), so
``report``, ``route`` and the end of a run read a million decisions in about a second instead of
parsing every line.

``decisions.jsonl`` stays the record. The copy says which bytes of it it holds (their length and a
digest of the first and last 64 KiB of them), so a copy is used only for the file it was made
from: lines appended since are read from the file and added, and a file rewritten or edited
since is read whole again. A copy that cannot be written (read-only folder, full disk) is simply
not there; nothing depends on it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..records.table import CODED_FIELDS, FLAG_FIELDS, FLOAT_FIELDS, Coded, DecisionTable

__all__ = ["covered_bytes", "import_parquet", "read_sidecar", "source_digest", "write_sidecar"]

_EDGE = 64 * 1024
_FORMAT = "evalharness.decisions/2"


def import_parquet() -> None:
    """Import pyarrow's Parquet module (~0.25 s), e.g. ahead of the write at the end of a run."""
    import pyarrow.parquet  # noqa: F401


def source_digest(path: Path, size: int) -> str:
    """BLAKE2b of the first and last 64 KiB of ``path``'s first ``size`` bytes."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as fh:
        digest.update(fh.read(min(size, _EDGE)))
        fh.seek(max(0, size - _EDGE))
        digest.update(fh.read(size - fh.tell()))
    return digest.hexdigest()


def covered_bytes(sidecar: Path, source: Path) -> int | None:
    """How many leading bytes of ``source`` the copy at ``sidecar`` holds, or None when it holds
    none (missing, unreadable, or made from other bytes)."""
    try:
        import pyarrow.parquet as pq

        meta = pq.read_schema(sidecar).metadata or {}
        info = json.loads(meta[b"evalharness"])
        size = int(info["source_size"])
        if info.get("format") != _FORMAT or size > source.stat().st_size:
            return None
        return size if info["source_digest"] == source_digest(source, size) else None
    except (OSError, KeyError, ValueError, TypeError):
        return None


def write_sidecar(table: DecisionTable, sidecar: Path, source: Path, size: int) -> None:
    """Write ``table`` (the decisions of ``source``'s first ``size`` bytes) to ``sidecar``
    atomically; an OSError leaves no copy behind."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def coded(column: Coded) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(column.codes, mask=column.codes < 0),
                                              pa.array(column.values, type=pa.string()))

    meta_codes = np.asarray(table.coded["item_id"].codes)
    metas = Coded(meta_codes, tuple(json.dumps(m, sort_keys=True, ensure_ascii=False)
                                    for m in table.meta))
    offsets = pa.array(table.score_start.astype(np.int64), type=pa.int64())
    columns = {name: coded(table.coded[name]) for name in CODED_FIELDS}
    columns |= {name: pa.array(table.numbers[name], from_pandas=True) for name in FLOAT_FIELDS}
    columns |= {name: pa.array(table.flags[name]) for name in FLAG_FIELDS}
    columns |= {
        "score_labels": pa.LargeListArray.from_arrays(offsets, coded(table.score_label)),
        "score_values": pa.LargeListArray.from_arrays(offsets, pa.array(table.score_value)),
        "meta": coded(metas),
        "line": pa.array(table.line),
    }
    info = {"format": _FORMAT, "source_size": size, "source_digest": source_digest(source, size)}
    arrow = pa.table(columns).replace_schema_metadata({"evalharness": json.dumps(info)})
    tmp = sidecar.with_name(f".{sidecar.name}.tmp")
    try:
        pq.write_table(arrow, tmp, row_group_size=max(1, len(table)))
        os.replace(tmp, sidecar)
    except OSError:
        tmp.unlink(missing_ok=True)


def read_sidecar(sidecar: Path, source: Path) -> DecisionTable:
    """The table in ``sidecar`` (check :func:`covered_bytes` first), read one column at a time
    (a whole-table read holds several copies at once)."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(sidecar)

    def column(name: str):  # one pyarrow Array
        return file.read(columns=[name]).column(0).combine_chunks()

    def coded(array) -> Coded:  # a pyarrow DictionaryArray
        return Coded(np.asarray(array.indices.fill_null(-1).to_numpy(), dtype=np.int32),
                     tuple(array.dictionary.to_pylist()))

    def numbers(array) -> np.ndarray:
        return np.asarray(array.to_numpy(zero_copy_only=False))

    labels = column("score_labels")
    score_start, score_label = numbers(labels.offsets).astype(np.int64), coded(labels.values)
    del labels
    items, metas = coded(column("item_id")), coded(column("meta"))
    decoded = [json.loads(text) for text in metas.values]
    meta_of_item = np.full(len(items.values), -1, dtype=np.int64)
    meta_of_item[items.codes[::-1]] = metas.codes[::-1]  # the first row of each item wins
    return DecisionTable(
        coded={name: items if name == "item_id" else coded(column(name)) for name in CODED_FIELDS},
        numbers={name: numbers(column(name)).astype(np.float64) for name in FLOAT_FIELDS},
        flags={name: numbers(column(name)).astype(bool) for name in FLAG_FIELDS},
        score_start=score_start,
        score_label=score_label, score_value=numbers(column("score_values").values),
        meta=[decoded[c] for c in meta_of_item], line=numbers(column("line")).astype(np.int64),
        source=source)
