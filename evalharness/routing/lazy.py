"""A sequence whose items are made only when read: a search holds a hundred thousand results as
arrays and reads a handful."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import TypeVar, overload

__all__ = ["LazySequence"]

T = TypeVar("T")


class LazySequence(Sequence[T]):
    """Indexing calls :meth:`_make` with a position in ``0..len - 1`` (negative indices count
    from the end; out of range is an ``IndexError``); slices make a list."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _make(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._make(int(i) % len(self))
