"""Write a converted golden set: items file (gzip'd when large), LICENSE, CARD.md, and its summary."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path


from ..inputs.adjudications import adjudication_path, card_block, with_card_block
from ..records.errors import GoldenSetError
from ..records import GoldenItem
from .cards import render_card
from .conversion import Conversion, ImportSummary, SetInfo, summarize
from .items import POLICY_LABELS
from .sources import source_file

GZIP_ABOVE_BYTES = 1_000_000
"""A plain ``items.jsonl`` larger than this is written as ``items.jsonl.gz`` instead."""
ITEM_FILES = ("items.jsonl", "items.jsonl.gz")


def _check(name: str, items: list[GoldenItem]) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise GoldenSetError(f"duplicate id {item.id!r}", file=name, field="id",
                                 fix="the converter must give every item a unique id")
        seen.add(item.id)
        for policy, label in item.labels.items():
            if label not in POLICY_LABELS.get(policy, ()):
                raise GoldenSetError(f"label {label!r} is not one of {POLICY_LABELS.get(policy)}",
                                     file=name, field=f"{item.id}.labels.{policy}")


def _serialize(items: list[GoldenItem]) -> bytes:
    lines = []
    for item in items:
        row = item.model_dump(mode="json", exclude_defaults=False)
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise GoldenSetError(f"text cannot be encoded as UTF-8: {exc.reason}",
                             fix="the source holds a lone surrogate; clean it in the converter") from None


def write_items(items: list[GoldenItem], folder: Path) -> Path:
    """Write ``items.jsonl`` (or ``items.jsonl.gz`` above the size limit, byte-identical on re-run)."""
    data = _serialize(items)
    gz = len(data) > GZIP_ABOVE_BYTES
    path = folder / ITEM_FILES[gz]
    (folder / ITEM_FILES[not gz]).unlink(missing_ok=True)
    with path.open("wb") as fh:
        if gz:
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=9, mtime=0) as zf:
                zf.write(data)
        else:
            fh.write(data)
    return path


def write_set(info: SetInfo, conversion: Conversion, source: Path, out_dir: Path) -> ImportSummary:
    """Write items, LICENSE and CARD.md of one set under ``out_dir/<name>/``; return its summary."""
    _check(info.name, conversion.items)
    if info.license_file:
        license_text = source_file(source, info.license_file).read_bytes()
    else:
        license_text = (info.license_notice or "").encode("utf-8")
    folder = out_dir / info.name
    folder.mkdir(parents=True, exist_ok=True)
    path = write_items(conversion.items, folder)
    data = path.read_bytes()
    summary = summarize(info.name, conversion.items)
    summary.file, summary.bytes = path.name, len(data)
    content = gzip.decompress(data) if path.name.endswith(".gz") else data
    summary.sha256 = hashlib.sha256(content).hexdigest()
    (folder / "LICENSE").write_bytes(license_text)
    card = render_card(info, conversion, summary)
    verdicts = adjudication_path(path)  # a rebuilt set keeps its adjudication section
    block = card_block(verdicts) if verdicts.exists() else None
    (folder / "CARD.md").write_text(with_card_block(card, block), encoding="utf-8")
    return summary


def read_items(folder: Path) -> list[GoldenItem] | None:
    """The items already written in ``folder``, or None when there is no items file."""
    for name in ITEM_FILES:
        path = folder / name
        if path.is_file():
            raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
            return [GoldenItem.model_validate_json(line) for line in raw.splitlines() if line.strip()]
    return None
