"""What a converter produces: where the set comes from (:class:`SetInfo`), its items and card text
(:class:`Conversion`), and the counts written beside it (:class:`ImportSummary`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from ..records import GoldenItem
from .items import POLICY_LABELS

__all__ = ["Conversion", "ImportSummary", "SetInfo", "summarize"]


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
