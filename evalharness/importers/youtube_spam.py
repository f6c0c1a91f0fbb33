"""YouTube Spam Collection v.1: comments on five music videos, one spam/ham label each."""

from __future__ import annotations

import csv
import html
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..records import GoldenItem
from .items import mark_duplicates, verdict
from .conversion import Conversion, SetInfo
from .sources import csv_records, fail, source_file

NAME = "youtube_spam_collection"
FILES = (("Psy", "Youtube01-Psy.csv"), ("KatyPerry", "Youtube02-KatyPerry.csv"),
         ("LMFAO", "Youtube03-LMFAO.csv"), ("Eminem", "Youtube04-Eminem.csv"),
         ("Shakira", "Youtube05-Shakira.csv"))
COLUMNS = ["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "label"]
BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

INFO = SetInfo(
    name=NAME,
    title="YouTube Spam Collection v.1 (TubeSpam)",
    origin=[
        "- Original: http://www.dt.fee.unicamp.br/~tiago/youtubespamcollection/ ; UCI ML Repository "
        "dataset 380.",
        "- Copied byte-for-byte from https://github.com/C0D3-BR3AK3R/HadoopFinalNCU-Project, paths "
        "`data/Youtube0{1-5}-*.csv`, added in commit `c1c9490617ac3b214f9ff7ebf011f2ac59a523c4` (snapshot "
        "HEAD `cb2cf49dbfffe0bc145ce3d825e1a99ec7c73ef7`; a carrier repo). The last column is `CLASS` in "
        "the original distribution and `label` in this copy; no other change was found.",
    ],
    license="UCI: CC BY 4.0 (citation requested)",
    attribution="""
No license file ships with the data. The authors ask that users cite the TubeSpam paper and the web
page http://www.dt.fee.unicamp.br/~tiago/youtubespamcollection/ ; the UCI Machine Learning Repository
(dataset 380) lists the dataset under CC BY 4.0 (not independently verified). `LICENSE` in this folder
is a notice written by the converter, not an upstream file.

Alberto, T.C., Lochter, J.V., Almeida, T.A. "TubeSpam: Comment Spam Filtering on YouTube."
Proceedings of the 14th IEEE International Conference on Machine Learning and Applications (ICMLA'15),
Miami, FL, USA, 2015.
""",
    license_notice="""YouTube Spam Collection v.1 — license notice (written by evalharness.importers)

No license file is distributed with the data files. The dataset's authors (Tulio C. Alberto,
Johannes V. Lochter, Tiago A. Almeida) ask that users cite:

  Alberto, T.C., Lochter, J.V., Almeida, T.A. "TubeSpam: Comment Spam Filtering on YouTube."
  Proceedings of the 14th IEEE International Conference on Machine Learning and Applications
  (ICMLA'15), Miami, FL, USA, 2015.

and the web page http://www.dt.fee.unicamp.br/~tiago/youtubespamcollection/ .

The UCI Machine Learning Repository (dataset 380, "YouTube Spam Collection") lists the dataset under
the Creative Commons Attribution 4.0 International license (CC BY 4.0),
https://creativecommons.org/licenses/by/4.0/legalcode . This copy is converted (changed): one JSON
item per comment, HTML line breaks and entities decoded, see CARD.md.
""",
)

MAPPING = """
| `label` (`CLASS` upstream) | `spam_scam` |
|---|---|
| 1 spam | `spam` |
| 0 ham | `none` |

- Id = `youtube:<COMMENT_ID>`; a COMMENT_ID seen again (across all five files) gets
  `youtube:<COMMENT_ID>#<n>` for its n-th occurrence.
- Text = `CONTENT` with `<br />` -> newline, then HTML entities unescaped (`&#39;`, `&amp;`, `&lt;3`
  ...), then trailing U+FEFF removed. Other HTML tags (`<a href=...>`, `<b>`, `<span ...>`) are kept
  as written. Author names are not copied.
- Item `meta`: `source` = `youtube`, `video` (Psy, KatyPerry, LMFAO, Eminem, Shakira), `date` (ISO
  string, null when empty); `duplicate_of` on later copies of an exact duplicate text;
  `repaired_row` = true on rows recovered from the broken quoting described below.
"""


def _clean(content: str) -> str:
    return html.unescape(BREAK.sub("\n", content)).rstrip("\ufeff")


def _unmerge(row: dict[str, str]) -> list[dict[str, str]] | None:
    """Split a row whose unbalanced quote swallowed the following lines, or None if it is not one.

    The swallowed text looks like ``text,0\\nID,AUTHOR,DATE,CONTENT,label\\n...\\nID,AUTHOR,DATE,CONTENT``
    (the final label is the merged row's own label).
    """
    first, *middle, last = row["CONTENT"].split("\n")
    head = re.fullmatch(r"(.*),([01])", first, re.DOTALL)
    tail = last.split(",", 3)
    if not head or len(tail) != 4:
        return None
    rows = [{**row, "CONTENT": head[1], "label": head[2]}]
    for segment in middle:
        fields = next(csv.reader([segment]))
        if len(fields) != 5 or fields[4] not in ("0", "1"):
            return None
        rows.append(dict(zip(COLUMNS, fields, strict=True)))
    rows.append({**dict(zip(COLUMNS, tail, strict=False)), "label": row["label"]})
    rows[-1]["CONTENT"] = rows[-1]["CONTENT"].removeprefix('"')
    return rows


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str], bool]]:
    for line, row in csv_records(path, COLUMNS):
        parts = _unmerge(row) if "\n" in row["CONTENT"] else None
        if parts is None:
            yield line, row, False
        else:
            for offset, part in enumerate(parts):
                yield line + offset, part, True


def convert(folder: Path) -> Conversion:
    """Convert the five CSV files in ``folder``."""
    items: list[GoldenItem] = []
    seen: Counter[str] = Counter()
    per_file: dict[str, Counter[str]] = {}
    repaired: list[str] = []
    for video, name in FILES:
        path = source_file(folder, name)
        per_file[name] = Counter()
        for line, row, fixed in _rows(path):
            if row["label"] not in ("0", "1"):
                fail(f"label {row['label']!r} is not 0 (ham) or 1 (spam)", path, line, "label")
            if not row["COMMENT_ID"]:
                fail("empty COMMENT_ID", path, line, "COMMENT_ID")
            seen[row["COMMENT_ID"]] += 1
            n = seen[row["COMMENT_ID"]]
            item_id = f"youtube:{row['COMMENT_ID']}" + (f"#{n}" if n > 1 else "")
            meta: dict[str, object] = {"source": "youtube", "video": video, "date": row["DATE"] or None}
            if fixed:
                meta["repaired_row"] = True
                repaired.append(f"`{item_id}` (line {line})")
            per_file[name][row["label"]] += 1
            items.append(GoldenItem(
                id=item_id,
                text=_clean(row["CONTENT"]),
                labels={"spam_scam": verdict("spam_scam", row["label"] == "1")},
                meta=meta,
            ))
    duplicates = mark_duplicates(items)
    reused = sorted(comment_id for comment_id, n in seen.items() if n > 1)
    undated = sum(item.meta["date"] is None for item in items)
    table = "; ".join(f"{name}: spam {c['1']}, ham {c['0']}" for name, c in per_file.items())
    notes = [
        f"- Broken quoting upstream: in `Youtube04-Eminem.csv` an unbalanced `\"` at line 271 makes a CSV "
        f"parser swallow the next lines into one comment labeled spam. The converter splits it back into "
        f"the {len(repaired)} comments it holds (each line carries its own id and label; a stray leading "
        f"`\"` is dropped): {', '.join(repaired)}. The published per-file counts (Eminem 245 spam / 203 "
        f"ham, 448) include the merged row, so this set has {len(repaired) - 1} more items than published.",
        f"- Items per file after the repair: {table}.",
        f"- Repeated COMMENT_IDs: {', '.join(f'`{i}`' for i in reused) or 'none'}; each repeat is an "
        "identical row (same author, text and label) in the same file. All copies are kept (ids `#2`...) "
        "to match the published counts; `duplicate_of` lets users drop them.",
        f"- Exact duplicate texts: {duplicates} later items carry `meta.duplicate_of` = the first id.",
        "- \"Spam\" here is self-promotion (\"check out my channel\"), follow-for-follow and money-making "
        "links on 2013-2015 YouTube; classes are balanced by design, not real-world prevalence.",
        f"- Empty `DATE` (meta `date` null): {undated} items.",
        "- Single manual label per comment by the dataset authors; no per-rater data.",
    ]
    return Conversion(items=items, mapping=MAPPING, notes=notes)
