"""SMS Spam Collection v.1: one ham/spam label per message, exact duplicates marked."""

from __future__ import annotations

from pathlib import Path

from ..records import GoldenItem
from .items import mark_duplicates, verdict
from .conversion import Conversion, SetInfo
from .sources import fail, source_file, text_lines

NAME = "sms_spam_collection"
FILE = "SMSSpamCollection"
LABELS = {"spam": True, "ham": False}

INFO = SetInfo(
    name=NAME,
    title="SMS Spam Collection v.1",
    origin=[
        "- Original: http://www.dt.fee.unicamp.br/~tiago/smsspamcollection/ ; UCI ML Repository dataset 228 "
        "(DOI 10.24432/C5CC84).",
        "- Copied byte-for-byte (the unmodified UCI distribution file) from "
        "https://github.com/learn-co-students/dsc-document-classification-with-naive-bayes-lab-online-ds-pt-051319, "
        "path `SMSSpamCollection`, commit `2f98ca443ecd26e1088b369260f1e9782e2e36fc` (a course repo used only "
        "as a carrier).",
    ],
    license="authors' free-use terms (UCI: CC BY 4.0)",
    attribution="""
Provided free of charge by the authors with no limitations except: Tiago Agostinho de Almeida and José
María Gómez Hidalgo hold the copyright (c) for the SMS Spam Collection v.1; no warranty; limitation of
liability (full terms in `LICENSE`). UCI lists the dataset as CC BY 4.0. The authors ask users to
reference the paper and the web page http://www.dt.fee.unicamp.br/~tiago/smsspamcollection/:

Almeida, T.A., Gómez Hidalgo, J.M., Yamakami, A. "Contributions to the Study of SMS Spam Filtering: New
Collection and Results." Proceedings of the 2011 ACM Symposium on Document Engineering (DOCENG'11),
Mountain View, CA, USA, 2011.
""",
    license_file="LICENSE_NOTE.md",
)

MAPPING = """
| source label | `spam_scam` |
|---|---|
| `spam` | `spam` |
| `ham` | `none` |

- Id = `sms:<1-based line number>`. Each line is split on the **first tab only**; the rest is the text,
  unchanged (no CSV quoting, no HTML unescaping: the distribution's `&lt;#&gt;` placeholders and
  `&amp;` stay literal, leading/trailing spaces stay).
- Item `meta`: `source` = `sms`; later copies of an exact duplicate text carry `duplicate_of` = the
  first id, so users can dedupe.
"""


def convert(folder: Path) -> Conversion:
    """Convert ``SMSSpamCollection`` in ``folder``."""
    path = source_file(folder, FILE)
    items: list[GoldenItem] = []
    for line, text in text_lines(path):
        label, tab, message = text.partition("\t")
        if not tab:
            fail("no tab between label and text", path, line, fix="each line is <ham|spam>\\t<text>")
        if label not in LABELS:
            fail(f"label {label!r} is not ham or spam", path, line, "label")
        items.append(GoldenItem(
            id=f"sms:{line}",
            text=message,
            labels={"spam_scam": verdict("spam_scam", LABELS[label])},
            meta={"source": "sms"},
        ))
    duplicates = mark_duplicates(items)
    notes = [
        f"- Exact duplicate texts: {duplicates} items carry `meta.duplicate_of` (mostly spam templates); "
        "drop them to avoid counting one message several times.",
        "- 2000s-era UK/Singapore SMS: premium-rate \"text WIN to 87121\" spam, little modern phishing/"
        "smishing (links, parcel or bank scams).",
        "- Ham is mostly Singaporean student chat (Singlish), so a model can key on dialect rather than "
        "spam intent.",
        "- Labels come from where each message was collected (Grumbletext complaints, SMS Spam Corpus, NUS "
        "SMS Corpus, Tagg's thesis) plus manual extraction, not from a moderation guideline. No per-rater "
        "data.",
    ]
    return Conversion(items=items, mapping=MAPPING, notes=notes)
