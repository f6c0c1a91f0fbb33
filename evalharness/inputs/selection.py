"""Which items of a golden set a run evaluates: filters, seeded samples, and the hash that
identifies the selection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import GoldenSetSpec, SampleSpec
from ..records.errors import GoldenSetError
from ..records import GoldenItem
from . import images
from .goldens import read_golden_set


def field_value(item: GoldenItem, field: str) -> Any:
    """Value of ``id``, ``meta.<key>``, ``fields.<key>`` or ``labels.<policy>`` (None when
    absent)."""
    if field == "id":
        return item.id
    head, _, key = field.partition(".")
    return getattr(item, head, {}).get(key) if head in ("meta", "labels", "fields") else None


def _matches(value: Any, wanted: Any) -> bool:
    wanted_set = {str(w) for w in (wanted if isinstance(wanted, list) else [wanted])}
    values = value if isinstance(value, list) else [value]
    return any(v is not None and str(v) in wanted_set for v in values)


def filter_items(items: Sequence[GoldenItem], filters: dict[str, Any]) -> list[GoldenItem]:
    return [
        item for item in items
        if all(_matches(field_value(item, f), wanted) for f, wanted in filters.items())
    ]


def sample_items(items: Sequence[GoldenItem], spec: SampleSpec) -> list[GoldenItem]:
    """A seeded sample, in id order, stratified when ``spec.stratify_by`` is set."""
    ordered = sorted(items, key=lambda it: it.id)
    total = len(ordered)
    want = spec.n if spec.n is not None else max(1, round(total * (spec.fraction or 1.0)))
    if want >= total:
        return ordered
    rng = np.random.default_rng(spec.seed)
    if not spec.stratify_by:
        keep = rng.choice(total, size=want, replace=False)
        return [ordered[i] for i in sorted(keep)]
    strata: dict[str, list[int]] = {}
    for i, item in enumerate(ordered):
        strata.setdefault(str(field_value(item, spec.stratify_by)), []).append(i)
    # largest-remainder allocation so the sizes add up to exactly `want`
    quotas = {k: want * len(v) / total for k, v in strata.items()}
    sizes = {k: int(q) for k, q in quotas.items()}
    for k in sorted(quotas, key=lambda k: (sizes[k] - quotas[k], k))[: want - sum(sizes.values())]:
        sizes[k] += 1
    chosen: list[int] = []
    for key in sorted(strata):
        members = strata[key]
        chosen.extend(members[i] for i in rng.choice(len(members), size=sizes[key], replace=False))
    return [ordered[i] for i in sorted(chosen)]


def select_items(spec: GoldenSetSpec, path: Path) -> list[GoldenItem]:
    """Read, filter and sample a golden set as a config describes it."""
    items = read_golden_set(path, spec.format, max_item_chars=spec.max_item_chars)
    if spec.filter:
        items = filter_items(items, spec.filter)
        if not items:
            raise GoldenSetError(
                "the filter keeps no items", file=str(path), field="golden_set.filter",
                fix="check the filter's field names and values",
            )
    if spec.sample:
        key = spec.sample.stratify_by
        if key and not any(field_value(item, key) is not None for item in items):
            raise GoldenSetError(
                f"no item has {key}", file=str(path), field="golden_set.sample.stratify_by",
                fix="use id, meta.<key> or labels.<policy> that the items have",
            )
        items = sample_items(items, spec.sample)
    return items


def selection_hash(items: Iterable[GoldenItem]) -> str:
    """sha256 over the selected items' content, independent of file layout (an image file's
    bytes count, not only its path)."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda it: it.id):
        digest.update(item.model_dump_json().encode())
        for ref in item.images:
            if not ref.startswith("data:"):  # a data URL is in the JSON already
                digest.update(images.digest(ref, item._image_dir))
        digest.update(b"\n")
    return digest.hexdigest()
