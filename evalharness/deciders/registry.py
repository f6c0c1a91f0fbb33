"""Decider registry: ``@decider("kind")`` factories, built-ins and entry points alike.

A factory takes the decider's config block and the run config and returns a
:class:`~evalharness.deciders.Decider`. Implementations are imported lazily, so a config that does
not use the embedded model never imports llama.cpp. Third-party packages register through the
``evalharness.deciders`` entry-point group; loading the entry point runs its ``@decider`` calls.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from ..records.errors import DeciderError

if TYPE_CHECKING:
    from ..inputs.config import RunConfig
    from . import Decider

Factory = Callable[[Any, "RunConfig"], "Decider | list[Decider]"]
_FACTORIES: dict[str, Factory] = {}
_entry_points_loaded = False


def decider(kind: str) -> Callable[[Factory], Factory]:
    """Register ``factory`` for decider configs with ``kind: <kind>``."""

    def register(factory: Factory) -> Factory:
        _FACTORIES[kind] = factory
        return factory

    return register


def unregister(kind: str) -> None:
    _FACTORIES.pop(kind, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for ep in entry_points(group="evalharness.deciders"):
            ep.load()


def create_deciders(config: Any, run_config: RunConfig) -> list[Decider]:
    """Build the decider(s) for one ``deciders:`` entry of a config (an llm entry with several
    prompt variants gives one decider per variant)."""
    _load_entry_points()
    factory = _FACTORIES.get(config.kind)
    if factory is None:
        raise DeciderError(
            f"no decider registered for kind {config.kind!r}",
            field="deciders.kind",
            fix=f"use one of {sorted(_FACTORIES)} or install the plugin that provides it",
        )
    made = factory(config, run_config)
    return made if isinstance(made, list) else [made]


@decider("llm")
def _llm(config: Any, run_config: RunConfig) -> list[Decider]:
    if config.embedded:
        from .embedded import EmbeddedLlm as cls
    else:
        from .chat import ChatLlm as cls
    names = run_config.decider_names(config)
    return [cls(config, run_config, variant=variant, name=name)
            for variant, name in zip(config.prompt_variants, names)]


@decider("classic")
def _classic(config: Any, run_config: RunConfig) -> Decider:
    from .classic import ClassicDecider

    return ClassicDecider(config, run_config)


@decider("human")
def _human(config: Any, run_config: RunConfig) -> Decider:
    from .human import HumanRaters

    return HumanRaters(config)


@decider("precomputed")
def _precomputed(config: Any, run_config: RunConfig) -> Decider:
    from .precomputed import PrecomputedScores

    return PrecomputedScores(config)
