"""Convert public human-labeled datasets into evalharness golden sets.

Each source folder ``<source>/<name>/`` (raw files plus SOURCE.md) becomes ``<out>/<name>/`` with
``items.jsonl`` (``.gz`` above 1 MB), ``CARD.md`` and ``LICENSE``; ``<out>/README.md`` indexes them.
One module per source; :mod:`.sources` reads files, :mod:`.output` and :mod:`.cards` write.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..records.errors import GoldenSetError
from . import convabuse, davidson, hatexplain, openai_moderation, sms_spam, xstest, youtube_spam
from .cards import render_index
from .conversion import ImportSummary, SetInfo, summarize
from .output import read_items, write_set

CONVERTERS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (hatexplain, davidson, convabuse, openai_moderation, sms_spam, youtube_spam, xstest)
}
"""Set name (= source folder name) -> converter module with ``INFO`` and ``convert(folder)``."""

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "golden_data"
"""``../shared/golden_data`` relative to the repository root."""
DEFAULT_OUT = REPO_ROOT / "golden_sets"

__all__ = ["CONVERTERS", "DEFAULT_OUT", "DEFAULT_SOURCE", "ImportSummary", "import_golden_set", "write_index"]


def import_golden_set(name: str, source_dir: Path, out_dir: Path) -> ImportSummary:
    """Convert ``source_dir/<name>/`` into ``out_dir/<name>/`` and return its counts.

    Raises :class:`GoldenSetError` for an unknown name, a missing folder or file, or a malformed row
    (naming the file and line).
    """
    module = CONVERTERS.get(name)
    if module is None:
        raise GoldenSetError(f"unknown golden set {name!r}", field="name",
                             fix=f"choose from {', '.join(CONVERTERS)}")
    folder = Path(source_dir) / name
    conversion = module.convert(folder)
    return write_set(module.INFO, conversion, folder, Path(out_dir))


def write_index(out_dir: Path) -> Path:
    """(Re)write ``out_dir/README.md`` from the sets present in ``out_dir``."""
    out_dir = Path(out_dir)
    rows: list[tuple[SetInfo, ImportSummary]] = []
    for name, module in CONVERTERS.items():
        items = read_items(out_dir / name)
        if items is not None:
            rows.append((module.INFO, summarize(name, items)))
    path = out_dir / "README.md"
    path.write_text(render_index(rows), encoding="utf-8")
    return path
