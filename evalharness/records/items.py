"""Golden items: the human-labeled content a run evaluates."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator

from .base import Record

__all__ = ["Annotation", "GoldenItem", "Turn"]


class Annotation(Record):
    """One rater's judgment of one item."""

    rater: str
    """Rater id, stable within the golden set."""
    site: str | None = None
    """BPO site or team the rater worked at, when the data knows it."""
    labels: dict[str, str]
    """The rater's label per policy id."""
    seconds: float | None = None
    """Handling time for this item, when recorded."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Anything else the source recorded for this judgment (e.g. severity, targets)."""


class Turn(Record):
    """One earlier message of the conversation an item belongs to."""

    role: str
    """Who said it, as the source names them (``user``, ``agent``, ``buyer``, ``seller``...)."""
    text: str


class GoldenItem(Record):
    """One human-labeled item of a golden set."""

    schema_version: int = 1
    """Layout version of this record."""
    id: str
    """Unique id within the golden set; prefixed by the set name in shipped sets."""
    text: str
    """The content a moderator (or model) judges."""
    labels: dict[str, str] = Field(default_factory=dict)
    """QA gold label per policy id; a policy missing here is unknown for this item."""
    annotations: list[Annotation] = Field(default_factory=list)
    """Individual raters' judgments, when the source has them."""
    gold_from_raters: bool = False
    """True when ``labels`` is the majority of these same ``annotations`` (so raters are scored
    leave-one-out)."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Slice keys (market, language, source, target...) and source-specific extras."""
    scores: dict[str, dict[str, float | dict[str, float]]] = Field(default_factory=dict)
    """Precomputed classifier scores: ``{scorer: {policy: probability the item violates}}``, or
    for any policy ``{scorer: {policy: {label: probability}}}``."""
    fields: dict[str, Any] = Field(default_factory=dict, exclude_if=operator.not_)
    """Named parts of a structured item (a listing's ``title``, ``description``, ``price``,
    ``seller_country``...), for policy prompts: ``{fields.title}``. Left out of the item's JSON
    when empty, as ``context`` is, so items without them keep their bytes."""
    context: list[Turn] = Field(default_factory=list, exclude_if=operator.not_)
    """Earlier turns of the conversation the item (its ``text``) answers, oldest first; a
    prompt shows them with ``{context}``."""
    images: list[str] = Field(default_factory=list, exclude_if=operator.not_)
    """The item's images (a listing's photos): paths relative to the golden set file, or
    ``data:`` URLs. Vision llm deciders are sent them; deciders that cannot see images judge
    the item on its text alone, and their decisions say so (``text_only``)."""

    _line: int | None = PrivateAttr(default=None)
    """Line (or row) of the golden set file the item was read from, for error messages."""
    _image_dir: Path | None = PrivateAttr(default=None)
    """The folder relative image paths are read from (the golden set file's)."""

    @property
    def chars(self) -> int:
        """Characters of what a prompt can show of the item: its text, fields and turns."""
        return (len(self.text) + sum(len(str(v)) for v in self.fields.values())
                + sum(len(turn.role) + len(turn.text) for turn in self.context))

    @field_validator("context", mode="before")
    @classmethod
    def _one_turn(cls, value: Any) -> Any:
        """A plain text (e.g. a table's free-text ``context`` column) is one earlier turn."""
        return [{"role": "context", "text": value}] if isinstance(value, str) else value

    @field_validator("images", mode="before")
    @classmethod
    def _one_image(cls, value: Any) -> Any:
        """A table's ``images`` column may hold one path."""
        return [value] if isinstance(value, str) else value
