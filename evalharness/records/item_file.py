"""A run's ``items.jsonl`` as a mapping from id to :class:`GoldenItem`, read on demand: a report
shows a few dozen items' texts, and a million-decision run's items take a few hundred MB as
objects."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .items import GoldenItem

__all__ = ["ItemFile", "annotated_items"]


class ItemFile(Mapping[str, GoldenItem]):
    """Items by id: each id's line offset, and the items with annotations (rater votes) held."""

    def __init__(self, path: Path, lines: Iterable[tuple[int, GoldenItem]]) -> None:
        """``lines``: each (already validated) item of ``path`` with the offset of its line."""
        self.path = path
        self._offsets: dict[str, int] = {}
        self._annotated: dict[str, GoldenItem] = {}
        for offset, item in lines:
            if item.id not in self._offsets:
                self._offsets[item.id] = offset
                if item.annotations:
                    self._annotated[item.id] = item

    def __getitem__(self, item_id: str) -> GoldenItem:
        held = self._annotated.get(item_id)
        if held is not None:
            return held
        offset = self._offsets[item_id]
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            return GoldenItem.model_validate_json(fh.readline())

    def __iter__(self) -> Iterator[str]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._offsets

    def annotated(self) -> list[GoldenItem]:
        """The items that carry rater annotations, in file order."""
        return list(self._annotated.values())


def annotated_items(items: Mapping[str, GoldenItem]) -> Iterable[GoldenItem]:
    """The items of ``items`` with annotations (without reading every item of an
    :class:`ItemFile`)."""
    if isinstance(items, ItemFile):
        return items.annotated()
    return (item for item in items.values() if item.annotations)
