"""Token prices: litellm's offline price map, overridable per decider in the config.

The map is read straight from the JSON file litellm ships (no litellm import, no network), so a
price lookup costs milliseconds. A model without a known price stops the run before any call.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..records import Usage

_MAP_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class TokenPrice:
    """USD per token."""

    input: float
    output: float
    cached_input: float
    source: str
    """``config`` or ``litellm <version> price map (<key>)``."""

    def cost(self, usage: Usage) -> float:
        """Cost of one call: uncached prompt tokens, cached prompt tokens, completion tokens."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        return ((usage.prompt_tokens - cached) * self.input + cached * self.cached_input
                + usage.completion_tokens * self.output)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def _price_map() -> tuple[dict[str, Any], str]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}, "unavailable"
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _MAP_FILE
        if path.exists():
            from importlib.metadata import version

            return json.loads(path.read_text(encoding="utf-8")), version("litellm")
    return {}, "unavailable"


def model_info(model: str) -> tuple[str, dict[str, Any]] | None:
    """litellm's map entry for ``model`` (``provider/name`` or ``name``) and the key it is under."""
    table, _ = _price_map()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for key in candidates:
        entry = table.get(key)
        if isinstance(entry, dict) and entry.get("input_cost_per_token") is not None:
            return key, entry
    return None


def lookup_price(model: str, override: Any = None, *, batch: bool = False) -> TokenPrice | None:
    """The price of ``model``: the config's ``price:`` block if given, else litellm's map (its
    batch rates, ``*_cost_per_token_batches``, for a provider batch API; None when the map has
    none for the model)."""
    if override is not None:
        per = 1e-6
        cached = override.cached_input_per_mtok
        return TokenPrice(
            input=override.input_per_mtok * per,
            output=override.output_per_mtok * per,
            cached_input=(override.input_per_mtok if cached is None else cached) * per,
            source="config",
        )
    found = model_info(model)
    if found is None:
        return None
    key, entry = found
    _, version = _price_map()
    if batch:
        if entry.get("input_cost_per_token_batches") is None:
            return None
        price_in = float(entry["input_cost_per_token_batches"])
        return TokenPrice(input=price_in,
                          output=float(entry.get("output_cost_per_token_batches") or 0.0),
                          cached_input=price_in,
                          source=f"litellm {version} price map ({key}, batch)")
    price_in = float(entry["input_cost_per_token"])
    cached = entry.get("cache_read_input_token_cost")
    return TokenPrice(
        input=price_in,
        output=float(entry.get("output_cost_per_token") or 0.0),
        cached_input=price_in if cached is None else float(cached),
        source=f"litellm {version} price map ({key})",
    )


def supports_response_schema(model: str) -> bool:
    found = model_info(model)
    return bool(found and found[1].get("supports_response_schema"))


def supports_vision(model: str) -> bool:
    """Whether litellm's model map says ``model`` accepts images."""
    found = model_info(model)
    return bool(found and found[1].get("supports_vision"))
