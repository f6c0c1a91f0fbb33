"""Write a converted golden set: items file (gzip'd when large), LICENSE, CARD.md, and its summary."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from ..errors import GoldenSetError
from ..records import GoldenItem
from .cards import render_card
from .items import POLICY_LABELS
from .sources import source_file

GZIP_ABOVE_BYTES = 1_000_000
"""A plain ``items.jsonl`` larger than this is written as ``items.jsonl.gz`` instead."""
ITEM_FILES = ("items.jsonl", "items.jsonl.gz")


@dataclass(frozen=True)
class SetInfo:
    """Where a golden set comes from and under which terms; static per converter."""

    name: str
    """Set name, equal to the source folder name."""
    title: str
    origin: list[str]
    """Markdown bullet lines: repository, paths, commit."""
    license: str
    """Short license statement for the index."""
    attribution: str
    """Markdown: required notice and citation (BibTeX in a fenced block)."""
    license_file: str | None = None
    """File in the source folder copied verbatim to ``LICENSE``."""
    license_notice: str | None = None
    """Text written to ``LICENSE`` when the source ships no license file."""


@dataclass
class Conversion:
    """A converter's output: the items plus the set-specific parts of the card."""

    items: list[GoldenItem]
    mapping: str
    """Markdown: how source labels become policy labels."""
    notes: list[str] = field(default_factory=list)
    """Markdown bullets: caveats, decisions and data checks."""


class ImportSummary(BaseModel):
    """Counts of one converted golden set."""

    name: str
    items: int
    labels: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Items per policy per gold label, for every policy the set covers."""
    unknown: dict[str, int] = Field(default_factory=dict)
    """Items whose gold is unknown, per covered policy."""
    annotations: int = 0
    """Individual rater judgments."""
    raters: int = 0
    """Distinct rater ids."""
    file: str = ""
    """Items file name inside the set folder."""
    bytes: int = 0
    sha256: str = ""
    """sha256 of the items as JSON Lines, before gzip (gzip bytes vary with the zlib build)."""

    def line(self) -> str:
        """One printable line of counts."""
        parts = [f"{self.name}: {self.items} items"]
        for policy, counts in self.labels.items():
            shown = ", ".join(f"{label} {n}" for label, n in counts.items())
            parts.append(f"{policy} ({shown}, unknown {self.unknown[policy]})")
        if self.annotations:
            parts.append(f"{self.annotations} annotations by {self.raters} raters")
        parts.append(f"{self.file} {self.bytes:,} bytes")
        return "; ".join(parts)


def summarize(name: str, items: list[GoldenItem]) -> ImportSummary:
    """Label, unknown and rater counts of ``items``."""
    seen = Counter(policy for item in items for policy in item.labels)
    labels: dict[str, dict[str, int]] = {}
    unknown: dict[str, int] = {}
    for policy, pair in POLICY_LABELS.items():
        if policy in seen:
            counts = Counter(item.labels[policy] for item in items if policy in item.labels)
            labels[policy] = {label: counts.get(label, 0) for label in pair}
            unknown[policy] = len(items) - seen[policy]
    return ImportSummary(
        name=name,
        items=len(items),
        labels=labels,
        unknown=unknown,
        annotations=sum(len(item.annotations) for item in items),
        raters=len({a.rater for item in items for a in item.annotations}),
    )


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
    (folder / "CARD.md").write_text(card, encoding="utf-8")
    return summary


def read_items(folder: Path) -> list[GoldenItem] | None:
    """The items already written in ``folder``, or None when there is no items file."""
    for name in ITEM_FILES:
        path = folder / name
        if path.is_file():
            raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
            return [GoldenItem.model_validate_json(line) for line in raw.splitlines() if line.strip()]
    return None
