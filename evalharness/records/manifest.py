"""``manifest.json``: what ran, on what, with which versions. Small; read it first."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Record

__all__ = ["GoldenSetInfo", "Manifest", "PolicyInfo"]


class PolicyInfo(Record):
    version: str
    owner: str
    prompt_hash: str
    """sha256 of the labels, prompt and examples: what changes the decisions."""
    variant_hashes: dict[str, str] = Field(default_factory=dict)
    """Prompt hash of each prompt variant used by a decider, other than ``default``."""
    file_sha256: str | None = None
    labels: list[str]
    violating: list[str]
    severity: list[str] | None = Field(default=None, exclude_if=lambda v: v is None)
    """The labels least severe first, for a policy that orders them."""
    actions: dict[str, str] | None = Field(default=None, exclude_if=lambda v: v is None)
    """The enforcement action of each label, for a policy that orders them."""


class ShardInfo(Record):
    """One of N deterministic shares of a selection, by hashed item id (``run --shard K/N``)."""

    index: int
    """K, from 1."""
    of: int
    """N."""
    selection_sha256: str
    """sha256 of the whole selection (every shard's items), which shards to merge must share."""
    n_items: int
    """Items of the whole selection."""


class GoldenSetInfo(Record):
    path: str
    file_sha256: str | None
    selection_sha256: str
    """sha256 of the selected items' content (after filter, sample and --limit)."""
    n_items: int
    filter: dict[str, Any] = Field(default_factory=dict)
    sample: dict[str, Any] | None = None
    limit: int | None = None
    shard: ShardInfo | None = Field(default=None, exclude_if=lambda v: v is None)
    """For a ``run --shard K/N``: which share of the selection this run decided."""


class Manifest(Record):
    """``manifest.json``: what ran, on what, with which versions. Small; read it first."""

    schema_version: int = 1
    run_id: str
    status: Literal["running", "complete", "interrupted", "failed"]
    started_at: str
    finished_at: str | None = None
    config_path: str
    config: dict[str, Any]
    """The config as resolved, with secrets removed."""
    config_hash: str
    """sha256 of the resolved config; ``--resume`` refuses a run whose config changed."""
    policies: dict[str, PolicyInfo]
    golden_set: GoldenSetInfo
    deciders: list[dict[str, Any]]
    """Each decider's kind, model id and parameters, as it describes itself."""
    slice_by: list[str] = Field(default_factory=list)
    package_versions: dict[str, str] = Field(default_factory=dict)
    git: dict[str, Any] | None = None
    """Commit and dirty flag of the working tree the run came from, when it is a git checkout."""
    price_table: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    """Decisions by outcome, how many were served from cache, and model calls made."""
    endpoints: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Per model endpoint: concurrency bounds and rate limits met in the last session."""
    error_budget: dict[str, Any] = Field(default_factory=dict)
    """``max_error_rate`` and the deciders over it (the run exits 3 when there are any)."""
    merged_from: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)
    """The shard runs (``run --shard K/N``, K in order) this run was merged from."""
