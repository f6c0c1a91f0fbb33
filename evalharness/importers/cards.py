"""Render a set's CARD.md and the golden_sets/README.md index (deterministic text, no timestamps)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .items import POLICY_LABELS

if TYPE_CHECKING:
    from .conversion import Conversion, ImportSummary, SetInfo

CONTENT_WARNING = (
    "> **Content warning:** items may contain hate speech, slurs, harassment, sexual, violent or "
    "self-harm content. They are kept verbatim as evaluation data."
)


def command(name: str) -> str:
    """The shell command (run from the repo root) that regenerates set ``name``."""
    return f"python -m evalharness.importers {name} --source ../shared/golden_data --out golden_sets"


def _counts(summary: ImportSummary) -> list[str]:
    lines = [
        f"- items: **{summary.items:,}**",
        "",
        "| policy | violating | `none` | unknown (no gold) |",
        "|---|---|---|---|",
    ]
    for policy, counts in summary.labels.items():
        violating, clean = POLICY_LABELS[policy]
        lines.append(f"| `{policy}` | `{violating}` {counts[violating]:,} | {counts[clean]:,} "
                     f"| {summary.unknown[policy]:,} |")
    return lines


def _raters(conversion: Conversion, summary: ImportSummary) -> list[str]:
    if not summary.annotations:
        return ["- annotations: none (no per-rater judgments in the source)"]
    per_item = Counter(len(item.annotations) for item in conversion.items)
    spread = ", ".join(f"{k} raters: {n:,}" for k, n in sorted(per_item.items()))
    judged: dict[str, Counter[str]] = {}
    for item in conversion.items:
        for ann in item.annotations:
            for policy, label in ann.labels.items():
                judged.setdefault(policy, Counter())[label] += 1
    votes = "; ".join(
        f"`{policy}`: " + ", ".join(f"{label} {n:,}" for label, n in sorted(c.items()))
        for policy, c in judged.items()
    )
    return [
        f"- annotations: **{summary.annotations:,}** judgments by **{summary.raters:,}** distinct raters",
        f"- raters per item: {spread}",
        f"- rater judgments per policy: {votes}",
        f"- gold from raters (`gold_from_raters`): {any(i.gold_from_raters for i in conversion.items)}",
    ]


def render_card(info: SetInfo, conversion: Conversion, summary: ImportSummary) -> str:
    """CARD.md text for one converted set."""
    parts = [
        f"# `{info.name}` — {info.title}",
        "",
        CONTENT_WARNING,
        "",
        "## Source",
        "",
        *info.origin,
        f"- Raw files and their sha256: `golden_data/{info.name}/SOURCE.md` (outside this repo).",
        "",
        "## License and attribution",
        "",
        f"**{info.license}** — the upstream license/notice is copied to `LICENSE` in this folder.",
        "",
        info.attribution.strip(),
        "",
        "## Label mapping",
        "",
        "A policy missing from an item's `labels` means gold is unknown for that item (never `none`).",
        "",
        conversion.mapping.strip(),
        "",
        "## Counts",
        "",
        *_counts(summary),
        "",
        *_raters(conversion, summary),
        "",
        "## Caveats and decisions",
        "",
        *conversion.notes,
        "",
        "## Regenerate",
        "",
        "From the repository root (with the raw data checked out next to it):",
        "",
        "```sh",
        command(info.name),
        "```",
        "",
        f"- items file: `{summary.file}` ({summary.bytes:,} bytes)",
        f"- sha256 of the items as JSON Lines (before gzip): `{summary.sha256}`",
    ]
    if summary.file.endswith(".gz"):
        parts.append("- written with `gzip.GzipFile(mtime=0, compresslevel=9)` and no file name, so "
                     "re-running gives identical bytes (with the same zlib build).")
    return "\n".join(parts) + "\n"


def render_index(rows: list[tuple[SetInfo, ImportSummary]]) -> str:
    """golden_sets/README.md: one table row per converted set."""
    lines = [
        "# Golden sets",
        "",
        "Human-labeled items converted from public datasets by `python -m evalharness.importers`.",
        "Each folder holds `items.jsonl` (or `items.jsonl.gz` above 1 MB; one `GoldenItem` per line),",
        "`CARD.md` (source, license, label mapping, counts, caveats, sha256) and `LICENSE`.",
        "A policy missing from an item's `labels` means gold is unknown for that item.",
        "",
        CONTENT_WARNING,
        "",
        "| set | items | policies covered | raters | license |",
        "|---|---|---|---|---|",
    ]
    for info, summary in rows:
        policies = ", ".join(f"`{p}`" for p in summary.labels) or "—"
        raters = f"yes ({summary.raters:,})" if summary.annotations else "no"
        lines.append(f"| [`{info.name}`]({info.name}/CARD.md) | {summary.items:,} | {policies} "
                     f"| {raters} | {info.license} |")
    lines += [
        "",
        "Written by hand (not converted, so not regenerated; edit their `items.jsonl` and card):",
        "",
        "| set | items | policies covered | raters | license |",
        "|---|---|---|---|---|",
        "| [`prompt_injection`](prompt_injection/CARD.md) | 38 | `hate_speech` | no | MIT |",
        "| [`marketplace_listings`](marketplace_listings/CARD.md) | 32 | `hate_speech`, "
        "`harassment_abuse`, `sexual`, `violence`, `self_harm`, `spam_scam` | no | MIT |",
    ]
    lines += [
        "",
        "Regenerate all sets from the repository root:",
        "",
        "```sh",
        "python -m evalharness.importers --source ../shared/golden_data --out golden_sets",
        "```",
    ]
    return "\n".join(lines) + "\n"
