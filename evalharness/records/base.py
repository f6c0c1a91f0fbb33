"""Base classes of every record: lenient on read (unknown keys ignored, so newer files load), strict
for files people write (unknown keys are errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Record", "Strict"]


class Record(BaseModel):
    """A model read from and written to disk; unknown keys are ignored on read."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Strict(BaseModel):
    """A file people write (config blocks, targets, gate files): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
