"""Decider kinds: each registered with its options model and factory — built-ins and plugins
alike, through the ``evalharness.deciders`` entry-point group.

A package adds a kind by naming, in that group, a module whose import registers it (the entry
point's name is the kind)::

    # pyproject.toml of the plugin
    [project.entry-points."evalharness.deciders"]
    echo = "evalharness_echo"

    # evalharness_echo.py
    class EchoOptions(DeciderOptions):
        kind: Literal["echo"]
        label: str

    @decider("echo", options=EchoOptions)
    def make(options: EchoOptions, run_config: RunConfig) -> Decider: ...

evalharness's own kinds are registered the same way, in its ``pyproject.toml``. A kind's module is
imported when a config uses it (a config without the embedded model never imports llama.cpp);
naming every kind (an unknown kind's error, the config schema) imports all of them.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from ..inputs.config import DeciderOptions, DeciderSpec
from ..records.errors import DeciderError, did_you_mean

if TYPE_CHECKING:
    from ..inputs.config import RunConfig
    from .base import Decider

__all__ = ["ENTRY_POINT_GROUP", "DeciderKind", "create_deciders", "decider", "decider_kind",
           "decider_kinds"]

ENTRY_POINT_GROUP = "evalharness.deciders"

Factory = Callable[[Any, "RunConfig"], "Decider | list[Decider]"]
F = TypeVar("F", bound=Factory)


@dataclass(frozen=True)
class DeciderKind:
    """A registered kind: its options model and the factory that builds its decider(s)."""

    kind: str
    options: type[DeciderOptions]
    factory: Factory
    source: str
    """The module that registered it."""


_KINDS: dict[str, DeciderKind] = {}


def decider(kind: str, *, options: type[DeciderOptions]) -> Callable[[F], F]:
    """Register ``factory(options, run_config)`` for ``deciders:`` entries with ``kind: <kind>``.

    ``options`` is the kind's model: a :class:`~evalharness.inputs.config.DeciderOptions` whose
    ``kind`` field is ``Literal["<kind>"]``.
    """
    is_options = isinstance(options, type) and issubclass(options, DeciderOptions)
    field = options.model_fields.get("kind") if is_options else None
    if field is None or typing.get_args(field.annotation) != (kind,):
        raise TypeError(f"decider kind {kind!r}: options must subclass DeciderOptions with "
                        f'kind: Literal["{kind}"]')

    def register(factory: F) -> F:
        known = _KINDS.get(kind)
        if known is not None and known.source != factory.__module__:
            raise TypeError(f"decider kind {kind!r} is already registered by {known.source}; "
                            f"{factory.__module__} must choose another name")
        _KINDS[kind] = DeciderKind(kind, options, factory, factory.__module__)
        return factory

    return register


def _load(entry: EntryPoint) -> None:
    try:
        entry.load()
    except Exception as exc:  # a plugin that cannot be imported is bad input, not a crash
        raise DeciderError(
            f"the decider plugin {entry.name!r} ({entry.value}) cannot be imported: "
            f"{type(exc).__name__}: {exc}", field="deciders.kind",
            fix="reinstall the package that provides it, or remove it") from None


def _entry_points() -> list[EntryPoint]:
    found = list(entry_points(group=ENTRY_POINT_GROUP))
    if not any(e.value.startswith("evalharness.") for e in found):
        raise DeciderError(
            "evalharness's own decider kinds are not registered: the package is not installed",
            fix="install it (`pip install -e .` in the repository, as `make install` does)")
    return found


def decider_kinds() -> list[str]:
    """Every kind that can be used (imports every kind's module; a plugin that cannot be
    imported is left out here, and named when a config uses its kind)."""
    for entry in _entry_points():
        if entry.name not in _KINDS:
            try:
                _load(entry)
            except DeciderError:
                continue
    return sorted(_KINDS)


def decider_kind(kind: str) -> DeciderKind:
    """The registration of ``kind``, importing only its module; :class:`DeciderError` naming the
    registered kinds when none provides it."""
    if kind not in _KINDS:
        for entry in _entry_points():
            if entry.name == kind:
                _load(entry)
                if kind not in _KINDS:
                    raise DeciderError(
                        f"the decider plugin {entry.name!r} ({entry.value}) registers no kind "
                        f"{kind!r}", field="deciders.kind",
                        fix=f'its module must use @decider("{kind}", options=...)')
    if kind not in _KINDS:
        close = did_you_mean(kind, decider_kinds())
        hint = f"did you mean {close!r}? Or use" if close else "use"
        raise DeciderError(f"unknown kind {kind!r}", field="deciders.kind",
                           fix=f"{hint} one of {decider_kinds()} or install the plugin that provides it")
    return _KINDS[kind]


def create_deciders(options: DeciderSpec, run_config: RunConfig) -> list[Decider]:
    """Build the decider(s) of one checked ``deciders:`` entry (an llm entry with several
    prompt variants gives one decider per variant)."""
    made = decider_kind(options.kind).factory(options, run_config)
    return made if isinstance(made, list) else [made]
