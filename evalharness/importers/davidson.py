"""Davidson et al. (ICWSM 2017) hate/offensive tweets: majority class plus per-class vote counts."""

from __future__ import annotations

import html
from pathlib import Path

from ..records import GoldenItem
from .items import mark_duplicates, verdict
from .conversion import Conversion, SetInfo
from .sources import csv_records, fail, source_file

NAME = "davidson_hate_offensive"
FILE = "labeled_data.csv"
COLUMNS = ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"]
VOTES = (("hate", "hate_speech"), ("offensive", "offensive_language"), ("neither", "neither"))

INFO = SetInfo(
    name=NAME,
    title="Automated Hate Speech Detection and the Problem of Offensive Language (tweets)",
    origin=[
        "- Repository: https://github.com/t-davidson/hate-speech-and-offensive-language",
        "- Path: `data/labeled_data.csv` (copied byte-for-byte)",
        "- Commit: `cb50f7e9eb855a99abc51423bf40df0e26d6fe30` (2023-06-12)",
    ],
    license="MIT",
    attribution="""
MIT License, Copyright (c) 2017 Tom Davidson (the notice must accompany copies; see `LICENSE`).
The authors ask that any published work using the data cite the paper, and that users review the
repository's GitHub issues (it is unmaintained).

```bibtex
@inproceedings{hateoffensive,
  title = {Automated Hate Speech Detection and the Problem of Offensive Language},
  author = {Davidson, Thomas and Warmsley, Dana and Macy, Michael and Weber, Ingmar},
  booktitle = {Proceedings of the 11th International AAAI Conference on Web and Social Media},
  series = {ICWSM '17},
  year = {2017},
  location = {Montreal, Canada},
  pages = {512-515}
}
```
""",
    license_file="LICENSE",
)

MAPPING = """
| `class` (majority of CrowdFlower workers) | `hate_speech` | `offensive` |
|---|---|---|
| 0 hate speech | `hate` | `offensive` |
| 1 offensive language | `none` | `offensive` |
| 2 neither | `none` | `none` |

- Id = `davidson:<value of the unnamed first column>` (the original row index; it has gaps, so it
  is not the line number).
- No annotations: the source has vote counts, not rater ids. Item `meta`: `votes`
  (`{"hate", "offensive", "neither"}` counts), `n_raters` (`count`), `agreement` (largest vote count /
  `count`, rounded to 4 places).
- Text = `tweet` with HTML entities unescaped once (`html.unescape`: `&amp;` -> `&`, `&#128514;` ->
  the emoji); nothing else changed (`RT @user`, URLs and line breaks kept).
"""


def _int(row: dict[str, str], column: str, path: Path, line: int) -> int:
    try:
        return int(row[column])
    except ValueError:
        fail(f"{row[column]!r} is not an integer", path, line, column)


def convert(folder: Path) -> Conversion:
    """Convert ``labeled_data.csv`` in ``folder``."""
    path = source_file(folder, FILE)
    items: list[GoldenItem] = []
    plain_majority = 0
    for line, row in csv_records(path, COLUMNS):
        index = _int(row, "", path, line)
        count = _int(row, "count", path, line)
        votes = {key: _int(row, column, path, line) for key, column in VOTES}
        label = _int(row, "class", path, line)
        if label not in (0, 1, 2):
            fail(f"class {label} is not 0 (hate), 1 (offensive) or 2 (neither)", path, line, "class")
        if sum(votes.values()) != count or count < 1:
            fail(f"votes {votes} do not add up to count {count}", path, line, "count")
        top = max(votes.values())
        plain_majority += list(votes.values()).count(top) == 1 and votes[VOTES[label][0]] == top
        items.append(GoldenItem(
            id=f"davidson:{index}",
            text=html.unescape(row["tweet"]),
            labels={"hate_speech": verdict("hate_speech", label == 0),
                    "offensive": verdict("offensive", label in (0, 1))},
            meta={"votes": votes, "n_raters": count, "agreement": round(top / count, 4)},
        ))
    duplicates = mark_duplicates(items)
    unanimous = sum(item.meta["agreement"] == 1 for item in items)
    notes = [
        "- Tweets were sampled with a Hatebase lexicon search, so `offensive` dominates and most items "
        "contain slurs; hate is rare (about 6%).",
        "- Known label-quality and dialect bias: tweets in African-American English are more often labeled "
        "offensive/hate (Davidson et al. 2019, arXiv:1905.12516). Slice or reweight before drawing "
        "conclusions about a decider.",
        "- Worker ids and the worker guidelines are not in the source, so there are no per-rater "
        "annotations; `meta.votes` gives a soft label and `meta.agreement` a per-item agreement.",
        f"- Unanimous items (`agreement` = 1): {unanimous:,} of {len(items):,}.",
        f"- `class` is the unique arg-max of the vote counts on {plain_majority:,} of {len(items):,} rows "
        "(a tie or a disagreement would lower that number); the converter checks that the votes add up "
        "to `count`.",
        "- HTML entities are unescaped exactly once; one tweet was double-escaped in the source "
        "(`&amp;#9773;`) and keeps `&#9773;` literally.",
        f"- Exact duplicate texts (after unescaping): {duplicates} later items carry "
        "`meta.duplicate_of` = the first id.",
    ]
    return Conversion(items=items, mapping=MAPPING, notes=notes)
