"""OpenAI moderation evaluation set (samples-1680): consolidated binary labels, missing key = unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..records import GoldenItem
from .items import mark_duplicates, verdict
from .conversion import Conversion, SetInfo
from .sources import fail, jsonl_rows, source_file

NAME = "openai_moderation"
FILE = "samples-1680.jsonl.gz"
PARENTS = {"S": "sexual", "H": "hate_speech", "V": "violence", "HR": "harassment_abuse", "SH": "self_harm"}
SUBCATEGORIES = {"S3": "S", "H2": "H", "V2": "V"}
"""Subcategory key -> parent key (sexual/minors, hate/threatening, violence/graphic)."""

INFO = SetInfo(
    name=NAME,
    title="OpenAI moderation evaluation set (samples-1680)",
    origin=[
        "- Repository: https://github.com/openai/moderation-api-release",
        "- Path: `data/samples-1680.jsonl.gz` (copied byte-for-byte)",
        "- Commit: `f4ab51b5edd3bfbcb349a56324274235b674e0e4` (2022-08-08)",
    ],
    license="MIT",
    attribution="""
MIT License, Copyright (c) 2022 OpenAI (the notice must accompany copies; see `LICENSE`). This file
is the test set of:

```bibtex
@article{openai2022moderation,
  title={A Holistic Approach to Undesired Content Detection},
  author={Todor Markov and Chong Zhang and Sandhini Agarwal and Tyna Eloundou and Teddy Lee and Steven Adler and Angela Jiang and Lilian Weng},
  journal={arXiv preprint arXiv:2208.03274},
  year={2022}
}
```
""",
    license_file="LICENSE",
)

MAPPING = """
| key | OpenAI category | policy | 1 | 0 | key absent |
|---|---|---|---|---|---|
| `S` | sexual | `sexual` | `sexual` | `none` | unknown |
| `H` | hate | `hate_speech` | `hate` | `none` | unknown |
| `V` | violence | `violence` | `violence` | `none` | unknown |
| `HR` | harassment | `harassment_abuse` | `abuse` | `none` | unknown |
| `SH` | self-harm | `self_harm` | `self_harm` | `none` | unknown |
| `S3` | sexual/minors | (meta only) | | | |
| `H2` | hate/threatening | (meta only) | | | |
| `V2` | violence/graphic | (meta only) | | | |

- Id = `openai_moderation:<0-based line index>`; text = `prompt` unchanged. No annotations (one
  consolidated label per category).
- `meta.subcategories` holds the `S3`/`H2`/`V2` values present on the line (0/1).
- The taxonomy nests `S3` ⊂ `S`, `H2` ⊂ `H`, `V2` ⊂ `V`: when the parent key is **absent** and the
  subcategory is 1, the parent policy is set to violating. A subcategory of 0 says nothing about the
  parent, so an absent parent stays unknown.
"""


def _flag(row: dict[str, Any], key: str, path: Path, line: int) -> int | None:
    value = row.get(key)
    if value is not None and value not in (0, 1):
        fail(f"{value!r} is not 0 or 1", path, line, key)
    return value


def convert(folder: Path) -> Conversion:
    """Convert ``samples-1680.jsonl.gz`` in ``folder``."""
    path = source_file(folder, FILE)
    items: list[GoldenItem] = []
    filled = {key: 0 for key in SUBCATEGORIES}
    contradicts = {key: 0 for key in SUBCATEGORIES}
    orphan_zero = {key: 0 for key in SUBCATEGORIES}
    known = {"prompt", *PARENTS, *SUBCATEGORIES}
    complete = 0
    for index, (line, row) in enumerate(jsonl_rows(path)):
        if not isinstance(row.get("prompt"), str):
            fail("missing or non-string prompt", path, line, "prompt")
        extra = sorted(set(row) - known)
        if extra:
            fail(f"unexpected keys {extra}", path, line, fix=f"known keys are {sorted(known)}")
        flags = {key: _flag(row, key, path, line) for key in [*PARENTS, *SUBCATEGORIES]}
        complete += None not in flags.values()
        for sub, parent in SUBCATEGORIES.items():
            if flags[sub] == 1 and flags[parent] is None:
                flags[parent] = 1
                filled[sub] += 1
            elif flags[sub] == 1 and flags[parent] == 0:
                contradicts[sub] += 1
            elif flags[sub] is not None and flags[parent] is None:
                orphan_zero[sub] += 1
        items.append(GoldenItem(
            id=f"{NAME}:{index}",
            text=row["prompt"],
            labels={policy: verdict(policy, flags[key] == 1)
                    for key, policy in PARENTS.items() if flags[key] is not None},
            meta={"subcategories": {key: row[key] for key in SUBCATEGORIES if key in row}},
        ))
    duplicates = mark_duplicates(items)
    by_id = {item.id: item for item in items}
    conflicting = 0
    for item in items:
        first = by_id.get(item.meta.get("duplicate_of", ""))
        if first and any(first.labels.get(p, label) != label for p, label in item.labels.items()):
            conflicting += 1

    def counts(per_key: dict[str, int]) -> str:
        return ", ".join(f"{key} {n}" for key, n in per_key.items())

    notes = [
        f"- Partial labeling by design: only {complete:,} of {len(items):,} lines carry all eight keys. "
        "Score each policy only over items where it is present.",
        "- Sampled from production-like traffic plus targeted/synthetic data (per the paper); positives are "
        "far more frequent than in real traffic. Content includes the sexual/minors category.",
        f"- Subcategory consistency: subcategory = 1 with parent = 0 (contradiction): {counts(contradicts)}; "
        f"subcategory = 1 with parent absent (parent set to violating): {counts(filled)}; subcategory = 0 "
        f"with parent absent (parent left unknown): {counts(orphan_zero)}.",
        "- The release has no per-annotator labels and no agreement figures; the paper does not say how many "
        "people labeled each item.",
        f"- Exact duplicate prompts: {duplicates} later items carry `meta.duplicate_of` = the first id; "
        f"copies that disagree with their first copy on a policy both carry: {conflicting} (the others "
        "differ at most in which keys are present). All copies are kept as labeled.",
        "- OpenAI's `hate` and `harassment` definitions (see upstream README) are mapped to `hate_speech` "
        "and `harassment_abuse`; they may not match a platform's own policy wording exactly.",
    ]
    return Conversion(items=items, mapping=MAPPING, notes=notes)
