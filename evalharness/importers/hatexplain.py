"""HateXplain validation + test splits: three MTurk raters per post, gold by majority."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..records import Annotation, GoldenItem
from .items import majority, mark_duplicates, verdict
from .conversion import Conversion, SetInfo
from .sources import fail, jsonl_rows, source_file

NAME = "hatexplain"
SPLITS = (("validation", "hatexplain_validation.jsonl"), ("test", "hatexplain_test.jsonl"))
CLASSES = ("hatespeech", "normal", "offensive")
"""Label codes 0, 1, 2 (HF ClassLabel order, SOURCE.md)."""
PLATFORMS = ("twitter", "gab")

INFO = SetInfo(
    name=NAME,
    title="HateXplain (validation + test) with per-annotator labels",
    origin=[
        "- Dataset: https://github.com/hate-alert/HateXplain, `Data/dataset.json`, commit "
        "`01d742279dac941981f53806154481c0e15ee686` (not obtainable; the splits below are the official ones).",
        "- Files converted: `hatexplain_validation.jsonl`, `hatexplain_test.jsonl`, copied byte-for-byte from "
        "https://github.com/swiyasree/HateSpeechDetection `data/raw/hatexplain_{validation,test}.json`, commit "
        "`2a00e94445b4b3a248b8bb08e4f741d1c1aa1b54` (Hugging Face `datasets` exports of the official splits; "
        "ids verified equal to upstream `Data/post_id_divisions.json`).",
        "- LICENSE from hate-alert/HateXplain @ `01d7422`.",
    ],
    license="MIT (HF card: CC BY 4.0)",
    attribution="""
MIT License, Copyright (c) 2020 Punyajoy Saha (the notice must accompany copies; see `LICENSE`).
The Hugging Face dataset card lists CC BY 4.0. Cite:

```bibtex
@inproceedings{mathew2021hatexplain,
  title={HateXplain: A Benchmark Dataset for Explainable Hate Speech Detection},
  author={Mathew, Binny and Saha, Punyajoy and Yimam, Seid Muhie and Biemann, Chris and Goyal, Pawan and Mukherjee, Animesh},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence},
  volume={35},
  number={17},
  pages={14867--14875},
  year={2021}
}
```
""",
    license_file="LICENSE",
)

MAPPING = """
| rater label (code) | `hate_speech` | `offensive` |
|---|---|---|
| hatespeech (0) | `hate` | `offensive` |
| offensive (2) | `none` | `offensive` |
| normal (1) | `none` | `none` |

- One `Annotation` per rater: `rater` = MTurk `annotator_id`, `site` null, annotation `meta` =
  `{"label": <3-class label>, "targets": <that rater's target list as in the source>}`.
- Gold per policy = majority of the 3 raters' binary labels (always defined with 3 raters);
  `gold_from_raters` = true.
- Item `meta`: `split` (validation/test), `platform` (`twitter`, `gab`, or `other` for ids with
  another suffix), `target` (sorted groups chosen by >= 2 raters, "None" excluded; `["none"]` when
  there are none), `hatexplain_label` (majority 3-class label).
- Text = `" ".join(post_tokens)` (already lower-cased and tokenized upstream).
"""


def _item(row: dict[str, Any], split: str, path: Path, line: int) -> GoldenItem:
    try:
        post_id = row["id"]
        raters = row["annotators"]
        codes, rater_ids, targets = raters["label"], raters["annotator_id"], raters["target"]
        tokens = row["post_tokens"]
    except (KeyError, TypeError) as exc:
        fail(f"missing field {exc}", path, line, fix="expected id, annotators{label,annotator_id,target}, "
             "post_tokens")
    if not isinstance(post_id, str) or not post_id:
        fail("id is not a non-empty string", path, line, "id")
    lists = (codes, rater_ids, targets)
    if not all(isinstance(x, list) for x in lists) or not all(isinstance(t, list) for t in targets):
        fail("annotators.label, .annotator_id and .target must be lists", path, line, "annotators")
    if not (len(codes) == len(rater_ids) == len(targets) == 3):
        fail(f"expected 3 annotators, found {len(codes)} labels / {len(rater_ids)} ids / {len(targets)} "
             "targets", path, line, "annotators")
    if any(code not in (0, 1, 2) for code in codes):
        fail(f"label codes {codes} outside 0 (hatespeech), 1 (normal), 2 (offensive)", path, line,
             "annotators.label")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        fail("post_tokens is not a list of strings", path, line, "post_tokens")
    annotations = [
        Annotation(
            rater=str(rater),
            labels={"hate_speech": verdict("hate_speech", code == 0),
                    "offensive": verdict("offensive", code in (0, 2))},
            meta={"label": CLASSES[code], "targets": list(groups)},
        )
        for code, rater, groups in zip(codes, rater_ids, targets, strict=True)
    ]
    labels = {}
    for policy in ("hate_speech", "offensive"):
        gold = majority(a.labels[policy] for a in annotations)
        if gold is not None:
            labels[policy] = gold
    chosen = Counter(group for groups in targets for group in set(groups) if group != "None")
    target = sorted(group for group, n in chosen.items() if n >= 2) or ["none"]
    suffix = post_id.rsplit("_", 1)[-1]
    return GoldenItem(
        id=f"{NAME}:{post_id}",
        text=" ".join(tokens),
        labels=labels,
        annotations=annotations,
        gold_from_raters=True,
        meta={
            "split": split,
            "platform": suffix if suffix in PLATFORMS else "other",
            "target": target,
            "hatexplain_label": majority(CLASSES[code] for code in codes),
        },
    )


def convert(folder: Path) -> Conversion:
    """Convert the validation and test files in ``folder``."""
    items: list[GoldenItem] = []
    no_majority = 0
    other_platform: list[str] = []
    for split, name in SPLITS:
        path = source_file(folder, name)
        for line, row in jsonl_rows(path):
            item = _item(row, split, path, line)
            no_majority += item.meta["hatexplain_label"] is None
            if item.meta["platform"] == "other":
                other_platform.append(item.id)
            items.append(item)
    duplicates = mark_duplicates(items)
    notes = [
        "- Only the validation (1,922) and test (1,924) splits were obtainable; the train split is not "
        "here. Both are held-out splits, so the set is safe to use for evaluation.",
        "- Text is lower-cased and tokenized upstream; user mentions are `<user>`, URLs `<url>`, emojis "
        "normalized. Posts were pre-selected with hate lexicons, so hate/offensive prevalence is far above "
        "real traffic.",
        "- Rater ids are per-dataset MTurk ids; each rater labeled only a subset of posts (use Fleiss/"
        "Krippendorff rather than Cohen). Raters have no site (`site` null).",
        "- `offensive` gold counts hatespeech votes as offensive (offensive = hateful OR offensive), so "
        "an item can be `offensive` by majority even when no 3-class label has a majority.",
        f"- Items without a 3-class majority (`hatexplain_label` null): {no_majority} (upstream removed "
        "no-majority posts from the official splits).",
        f"- Ids with a suffix other than `_twitter`/`_gab` (`platform` = `other`): {len(other_platform)} "
        f"({', '.join(f'`{i}`' for i in other_platform)}); their suffix (`nf_<n>`) names no platform.",
        f"- Exact duplicate texts: {duplicates} later items carry `meta.duplicate_of` = the first id.",
        "- Token rationales are not copied (not needed for labels; keeps the set small).",
    ]
    return Conversion(items=items, mapping=MAPPING, notes=notes)
