"""The adjudication file of a golden set: append-only verdicts, read back checked line by line.

``golden_sets/hatexplain/items.jsonl.gz`` has ``golden_sets/hatexplain/items.adjudications.jsonl``.
Lines are only ever appended (each flushed and fsynced); the latest verdict of an (item, policy)
wins. A line that is not a verdict is one exit-2 line naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from ..records.adjudication import Verdict
from ..records.errors import AdjudicationError
from .textfile import read_utf8

__all__ = ["ADJUDICATION_SUFFIX", "adjudication_path", "append_verdicts", "card_block", "latest",
           "now", "read_verdicts", "record_in_card", "version_of", "with_card_block"]

ADJUDICATION_SUFFIX = ".adjudications.jsonl"
_FIX = "each line is a verdict: item_id, policy, old_label, new_label, reason, reviewer, time"


def adjudication_path(golden_set: Path | str) -> Path:
    """Where a golden set's verdicts go: next to it, ``<name>.adjudications.jsonl``."""
    path = Path(golden_set)
    name = path.name
    for ending in (".gz", ".jsonl", ".json", ".csv", ".parquet"):
        name = name.removesuffix(ending)
    return path.with_name(name + ADJUDICATION_SUFFIX)


def read_verdicts(path: Path | str) -> list[Verdict]:
    """Every verdict of the file, in order; an empty list when it does not exist yet."""
    path = Path(path)
    if not path.exists():
        return []
    verdicts = []
    for number, line in enumerate(read_utf8(path, AdjudicationError, fix=_FIX).splitlines(), 1):
        if not line.strip():
            continue
        try:
            verdicts.append(Verdict.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise AdjudicationError(first["msg"], file=str(path), line=number, field=field,
                                    fix=_FIX) from None
        for name in ("new_label", "reason", "reviewer"):
            if not str(getattr(verdicts[-1], name)).strip():
                raise AdjudicationError("is empty", file=str(path), line=number, field=name,
                                        fix=_FIX)
    return verdicts


def latest(verdicts: Iterable[Verdict]) -> dict[tuple[str, str], Verdict]:
    """The verdict that stands for each (item, policy): the last one given."""
    return {(v.item_id, v.policy): v for v in verdicts}


def append_verdicts(path: Path | str, verdicts: Iterable[Verdict]) -> None:
    """Append ``verdicts`` as lines (flushed and fsynced before returning)."""
    text = "".join(v.model_dump_json(exclude_none=True) + "\n" for v in verdicts)
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def version_of(path: Path | str) -> str:
    """``<verdicts>:<sha256, 12 hex>`` of the file (``0:`` when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return "0:"
    data = path.read_bytes()
    count = sum(1 for line in data.splitlines() if line.strip())
    return f"{count}:{hashlib.sha256(data).hexdigest()[:12]}"


def now() -> str:
    """The time a verdict is given, as it is recorded."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


CARD_START, CARD_END = "<!-- adjudication -->", "<!-- /adjudication -->"


def card_block(path: Path | str) -> str:
    """The ``## Adjudication`` section of the set's CARD.md: the file's version, its verdicts
    and reviewers, and the golds its standing verdicts change, per policy."""
    path = Path(path)
    verdicts = read_verdicts(path)
    standing = latest(verdicts)
    changes: dict[str, int] = {}
    for (_, policy), verdict in standing.items():
        if verdict.new_label != verdict.old_label:
            changes[policy] = changes.get(policy, 0) + 1
    per_policy = ", ".join(f"`{p}` {n}" for p, n in sorted(changes.items())) or "none"
    reviewers = len({v.reviewer for v in verdicts})
    return "\n".join([
        CARD_START, "## Adjudication", "",
        f"`{path.name}` version `{version_of(path)}`: {len(verdicts)} verdicts by {reviewers} "
        f"reviewer{'s' if reviewers != 1 else ''}; gold labels the standing verdicts change: "
        f"{per_policy}. The items file is unchanged; grade against the verdicts with "
        f"`evalharness report RUN --adjudicated {path.name}`.", CARD_END])


def with_card_block(card: str, block: str | None) -> str:
    """``card`` with its adjudication section replaced by ``block`` (added at the end)."""
    if CARD_START in card and CARD_END in card:
        head, _, rest = card.partition(CARD_START)
        card = head.rstrip("\n") + "\n" + rest.partition(CARD_END)[2].lstrip("\n")
    card = card.rstrip("\n") + "\n"
    return card if block is None else f"{card}\n{block}\n"


def record_in_card(path: Path | str) -> Path | None:
    """Update the adjudication section of the CARD.md beside adjudication file ``path``."""
    card = Path(path).with_name("CARD.md")
    if not card.exists():
        return None
    card.write_text(with_card_block(card.read_text(encoding="utf-8"), card_block(path)),
                    encoding="utf-8")
    return card
