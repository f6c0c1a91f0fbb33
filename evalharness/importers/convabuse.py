"""ConvAbuse (EMNLP 2021): user utterances to chatbots, 2-7 trained annotators each, gold by majority."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..records import Annotation, GoldenItem, Turn
from .items import majority, verdict
from .conversion import Conversion, SetInfo
from .sources import csv_rows, fail, source_file

NAME = "convabuse"
SPLITS = (("train", "ConvAbuseEMNLPtrain.csv"), ("valid", "ConvAbuseEMNLPvalid.csv"),
          ("test", "ConvAbuseEMNLPtest.csv"))
CONTEXT = ["example_id", "conv_id", "prev_agent", "prev_user", "agent", "user", "bot"]
SEVERITY = (("is_abuse.1", "not"), ("is_abuse.0", "ambiguous"), ("is_abuse.-1", "mild"),
            ("is_abuse.-2", "strong"), ("is_abuse.-3", "very_strong"))
TYPES = ("ableist", "homophobic", "intellectual", "racist", "sexist", "sex_harassment", "transphobic")
TARGETS = ("target.generalised", "target.individual", "target.system")
DIRECTNESS = ("explicit", "implicit")
SUFFIXES = [s for s, _ in SEVERITY] + list(TYPES) + list(TARGETS) + list(DIRECTNESS)
"""Column suffixes of one annotator block, in file order (17 columns)."""
ANNOTATORS = 8
ABUSIVE = ("mild", "strong", "very_strong")
TURNS = (("agent", "prev_agent"), ("user", "prev_user"), ("agent", "agent"))
"""The earlier turns of the judged ``user`` utterance, oldest first: (role, column)."""

INFO = SetInfo(
    name=NAME,
    title="ConvAbuse: abuse towards conversational AI agents",
    origin=[
        "- Repository: https://github.com/amandacurry/convabuse",
        "- Paths: `2_splits/ConvAbuseEMNLPtrain.csv`, `2_splits/ConvAbuseEMNLPvalid.csv`, "
        "`2_splits/ConvAbuseEMNLPtest.csv` (copied byte-for-byte)",
        "- Commit: `c0a9469f48956e868276c605d499010ea3c7c0d0` (2024-01-11)",
    ],
    license="CC BY 4.0",
    attribution="""
Creative Commons Attribution 4.0 International (legal code in `LICENSE`). Attribution: ConvAbuse by
Amanda Cercas Curry, Gavin Abercrombie and Verena Rieser, https://github.com/amandacurry/convabuse;
this folder is a converted (changed) copy: one JSON item per utterance with per-annotator labels
mapped to the `harassment_abuse` policy. Cite:

```bibtex
@inproceedings{cercas-curry-etal-2021-convabuse,
    title = "{C}onv{A}buse: Data, Analysis, and Benchmarks for Nuanced Abuse Detection in Conversational {AI}",
    author = "Cercas Curry, Amanda  and Abercrombie, Gavin  and Rieser, Verena",
    booktitle = "Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing",
    month = nov,
    year = "2021",
    address = "Online and Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2021.emnlp-main.587",
    doi = "10.18653/v1/2021.emnlp-main.587",
    pages = "7388--7403"
}
```
""",
    license_file="LICENSE",
)

MAPPING = """
| annotator severity (`is_abuse.*`) | annotation `meta.severity` | `harassment_abuse` |
|---|---|---|
| 1 not abusive | `not` | `none` |
| 0 ambiguous | `ambiguous` | `none` |
| -1 mildly abusive | `mild` | `abuse` |
| -2 strongly abusive | `strong` | `abuse` |
| -3 very strongly abusive | `very_strong` | `abuse` |

- One `Annotation` per annotator who labeled the item: `rater` = `Annotator1`..`Annotator8` (ids are
  consistent across files), `site` null, annotation `meta` = `{"severity", "types": [...], "target":
  generalised|individual|system|null, "directness": explicit|implicit|null}`.
- Gold `harassment_abuse` = strict majority of the annotators' binary labels; a tie (e.g. 1-1 or 2-2)
  leaves the policy out of `labels` (unknown). `gold_from_raters` = true.
- **Ambiguous (0) counts as `none`**: only -1/-2/-3 are abuse.
- Id = `convabuse:<example_id>` (`example_id` is unique across the three splits; `conv_id` is not).
  Integer ids written as floats upstream (`278.0`, `288277.0`) lose the `.0`.
- Text = the `user` utterance (the one judged). Item `context` = the three turns before it, oldest
  first: `prev_agent` (role `agent`), `prev_user` (role `user`), `agent` (role `agent`); a prompt
  shows them with `{context}`. Item `meta`: `split` (train/valid/test), `conv_id`, `bot`,
  `n_raters`, `has_context` (added by the reader), and for slicing, computed over the
  annotators who judged the item abusive and only when gold is `abuse`: `abuse_types` (types marked by
  more than half of them), `abuse_target` and `directness` (value held by more than half, else null).
"""


def _check_header(header: list[str], path: Path) -> None:
    if header[:len(CONTEXT)] != CONTEXT or len(header) != len(CONTEXT) + ANNOTATORS * len(SUFFIXES):
        fail(f"unexpected header ({len(header)} columns)", path, 1,
             fix=f"expected {CONTEXT} then {ANNOTATORS} blocks of {len(SUFFIXES)} annotator columns")
    for block in range(ANNOTATORS):
        for offset, suffix in enumerate(SUFFIXES):
            column = header[len(CONTEXT) + block * len(SUFFIXES) + offset]
            if not (column.startswith("Annotator") and column.endswith("_" + suffix)):
                fail(f"column {column!r} should be Annotator{block + 1}_{suffix}", path, 1)


def _first(cell: str, path: Path, line: int, column: str) -> bool | None:
    """The first value of a (possibly re-annotated ``"1, 0"``) cell: True/False, or None when empty."""
    value = cell.split(",")[0].strip()
    if value == "":
        return None
    if value not in ("0", "1"):
        fail(f"{cell!r} is not 0/1", path, line, column)
    return value == "1"


def _annotation(rater: str, cells: list[str], path: Path, line: int) -> Annotation | None:
    marks = [_first(cell, path, line, f"{rater}_{suffix}")
             for cell, suffix in zip(cells, SUFFIXES, strict=True)]
    if all(mark is None for mark in marks):
        return None
    if any(mark is None for mark in marks):
        fail("some of this annotator's cells are empty", path, line, rater)
    severity = [name for (_, name), mark in zip(SEVERITY, marks, strict=False) if mark]
    if len(severity) != 1:
        fail(f"{len(severity)} severity columns set, expected exactly one", path, line, f"{rater}_is_abuse")
    rest = marks[len(SEVERITY):]
    types = [name for name, mark in zip(TYPES, rest, strict=False) if mark]
    targets = [name.split(".")[1] for name, mark in zip(TARGETS, rest[len(TYPES):], strict=False) if mark]
    direct = [name for name, mark in zip(DIRECTNESS, rest[len(TYPES) + len(TARGETS):], strict=True) if mark]
    if len(targets) > 1 or len(direct) > 1:
        fail("more than one target or directness column set", path, line, rater)
    return Annotation(
        rater=rater,
        labels={"harassment_abuse": verdict("harassment_abuse", severity[0] in ABUSIVE)},
        meta={"severity": severity[0], "types": types, "target": targets[0] if targets else None,
              "directness": direct[0] if direct else None},
    )


def _slices(annotations: list[Annotation]) -> dict[str, object]:
    abusive = [a for a in annotations if a.meta["severity"] in ABUSIVE]
    types = Counter(t for a in abusive for t in a.meta["types"])
    return {
        "abuse_types": sorted(t for t, n in types.items() if 2 * n > len(abusive)),
        "abuse_target": majority(a.meta["target"] for a in abusive if a.meta["target"]),
        "directness": majority(a.meta["directness"] for a in abusive if a.meta["directness"]),
    }


def _whole(value: str) -> str:
    """``"278.0"`` -> ``"278"`` (pandas wrote integer ids as floats); other values unchanged."""
    head, dot, tail = value.partition(".")
    return head if dot and head.isdigit() and tail.strip("0") == "" else value


def _example_id(value: str, path: Path, line: int) -> str:
    number = _whole(value.strip())
    if not number.isdigit():
        fail(f"{value!r} is not a whole number", path, line, "example_id")
    return number


def convert(folder: Path) -> Conversion:
    """Convert the train/valid/test split files in ``folder``."""
    items: list[GoldenItem] = []
    reannotated = changed = 0
    for split, name in SPLITS:
        path = source_file(folder, name)
        rows = csv_rows(path)
        header = next(rows, (1, []))[1]
        _check_header(header, path)
        for line, row in rows:
            if len(row) != len(header):
                fail(f"{len(row)} fields, expected {len(header)}", path, line,
                     fix="check quoting on that row")
            context = dict(zip(CONTEXT, row, strict=False))
            annotations = []
            for block in range(ANNOTATORS):
                start = len(CONTEXT) + block * len(SUFFIXES)
                cells = row[start:start + len(SUFFIXES)]
                annotation = _annotation(f"Annotator{block + 1}", cells, path, line)
                if annotation is not None:
                    annotations.append(annotation)
                    if any("," in cell for cell in cells):
                        reannotated += 1
                        changed += any(len({v.strip() for v in c.split(",")}) > 1 for c in cells)
            if not annotations:
                fail("no annotator labeled this row", path, line)
            gold = majority(a.labels["harassment_abuse"] for a in annotations)
            meta: dict[str, object] = {
                "split": split, "conv_id": _whole(context["conv_id"]), "bot": context["bot"],
                "n_raters": len(annotations),
            }
            if gold == "abuse":
                meta.update(_slices(annotations))
            else:
                meta.update({"abuse_types": [], "abuse_target": None, "directness": None})
            items.append(GoldenItem(
                id=f"{NAME}:{_example_id(context['example_id'], path, line)}",
                text=context["user"],
                labels={"harassment_abuse": gold} if gold else {},
                annotations=annotations,
                gold_from_raters=True,
                meta=meta,
                context=[Turn(role=role, text=context[column]) for role, column in TURNS
                         if context[column].strip()],
            ))
    ties = sum("harassment_abuse" not in item.labels for item in items)
    mangled = sum("E+" in str(item.meta["conv_id"]) for item in items)
    repeated_text = sum(n - 1 for n in Counter(item.text for item in items).values() if n > 1)
    notes = [
        "- Domain: users abusing chatbots (the ELIZA-style E.L.I.Z.A. and the flight-booking CarbonBot), "
        "not marketplace text. Many utterances are very short and only make sense with the previous "
        "turns, which are the item's `context`: show them to deciders with `{context}` in the "
        "policy prompt.",
        f"- Ties (no strict majority, `harassment_abuse` unknown): {ties:,} items.",
        f"- Re-annotations: {reannotated:,} annotator judgments hold comma-joined repeat values (e.g. "
        f"`\"1, 1\"`) used upstream for intra-annotator agreement; the **first value is taken**. In "
        f"{changed:,} of them the repeat differs from the first value.",
        "- The split files' header misnames the transphobic column of Annotator7 and Annotator8 as "
        "`Annotator6_transphobic` (SOURCE.md's note that Annotator8 lacks it is wrong: there are 143 "
        "columns, 8 blocks of 17). Columns are read by position and each block's suffixes are checked.",
        "- Type, target and directness exist only when an annotator judged the utterance abusive "
        "(a few non-abusive judgments also mark a target or directness; they are kept as recorded).",
        f"- The same `user` text occurs in several items ({repeated_text:,} repeats, e.g. greetings) with "
        "different context, so duplicates are not marked.",
        f"- `conv_id` is in spreadsheet scientific notation upstream for {mangled:,} CarbonBot items (e.g. "
        "`2.45945E+15`): precision was lost before release, so different conversations can share one "
        "`conv_id`. Kept as written; do not group by it for those items.",
        "- The Alana-bot data from the paper is not released (privacy).",
    ]
    return Conversion(items=items, mapping=MAPPING, notes=notes)
