"""``kind: python``: any in-house model behind a Python function, ``callable: "module:function"``.

The function gets a batch of texts (``list[str]``) plus the config's ``kwargs:`` and returns one
output per text: a mapping class -> probability, or one number (the probability of the violating
label of a two-label policy). A 1-D numpy array of probabilities, or a 2-D array (or list of rows)
whose columns ``classes:`` names, is accepted too.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Literal

from pydantic import Field, field_validator

from ..inputs.config import RunConfig
from ..inputs.policies import Policy
from ..records import GoldenItem
from .base import Decider
from .registry import decider
from .scored import ClassifierOptions, ScoringDecider, check_scored, outputs_from_array

__all__ = ["PythonDecider", "PythonOptions"]


class PythonOptions(ClassifierOptions):
    """A Python function that scores a batch of texts."""

    kind: Literal["python"]
    callable: str
    """``module:function`` (or ``module:object.method``), called as ``function(texts, **kwargs)``
    with a list of texts; it returns one output per text."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed on every call."""
    path: str | None = None
    """A folder (relative to the config) put first on ``sys.path`` so the module can be imported."""
    classes: list[str] | None = None
    """Names of the columns when the function returns rows of probabilities (a 2-D array)."""

    @field_validator("callable")
    @classmethod
    def _module_and_name(cls, value: str) -> str:
        module, _, name = value.partition(":")
        if not module or not name:
            raise ValueError("give module:function, e.g. profanity_check:predict_prob")
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _column_names(cls, value: Any) -> Any:  # not _class_names: that would replace labels'
        return [str(v) for v in value] if isinstance(value, list) else value


class _BadOutput(Exception):
    """The function returned something that is not one output per text."""


class PythonDecider(ScoringDecider):
    """Calls the configured function on batches of texts."""

    kind = "python"

    def __init__(self, options: PythonOptions, run_config: RunConfig) -> None:
        super().__init__(options, run_config)
        self.options: PythonOptions = options
        self.function: Callable[..., Any] | None = None
        self.source = options.callable

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Import the function (an import error is a config error naming the line)."""
        check_scored(self.options, policies, self.run_config)
        if self.function is None:
            self.function = self._import()

    def _import(self) -> Callable[..., Any]:
        module_name, _, attr = self.options.callable.partition(":")
        if self.options.path is not None:
            folder = self.run_config.resolve(self.options.path)
            if not folder.is_dir():
                raise self.problem(f"folder {folder} not found", "path",
                                   fix="give the folder holding the module, relative to the config")
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        try:
            target: Any = importlib.import_module(module_name)
        except Exception as exc:  # the user's module failing to import is bad input
            raise self.problem(f"cannot import {module_name}: {type(exc).__name__}: {exc}",
                               "callable", fix="install the module, or set path: to its folder") from None
        for part in attr.split("."):
            if not hasattr(target, part):
                raise self.problem(f"{module_name} has no {attr!r}", "callable",
                                   fix="name a function defined in the module")
            target = getattr(target, part)
        if not callable(target):
            raise self.problem(f"{self.options.callable} is a {type(target).__name__}, not a function",
                               "callable", fix="name a function that takes a list of texts")
        return target

    def predict(self, texts: list[str]) -> list[Any]:
        assert self.function is not None, "check() runs before decide()"
        result = self.function(list(texts), **self.options.kwargs)
        try:
            return self._outputs(result)
        except ValueError as exc:
            raise _BadOutput(str(exc)) from None

    def _outputs(self, result: Any) -> list[Any]:
        if hasattr(result, "to_numpy"):  # a pandas Series or DataFrame
            result = result.to_numpy()
        if type(result).__module__ == "numpy" and hasattr(result, "ndim"):
            return outputs_from_array(result, self.options.classes)
        if isinstance(result, (str, bytes, Mapping)) or not hasattr(result, "__iter__"):
            raise ValueError(f"returned a {type(result).__name__}; return a list with one output "
                             "per text")
        outputs = list(result)
        if any(isinstance(o, (list, tuple)) for o in outputs):  # rows: their columns need classes:
            return outputs_from_array(outputs, self.options.classes)
        return outputs

    def failure(self, exc: Exception) -> str:
        return f"{self.source} {exc}" if isinstance(exc, _BadOutput) else super().failure(exc)

    def describe(self) -> dict[str, Any]:
        source = None
        if self.function is not None:
            try:
                source = inspect.getsourcefile(self.function)
            except TypeError:  # a builtin or C function has no source file
                source = None
        return {
            "name": self.name, "kind": self.kind, "callable": self.options.callable,
            "source": source, "path": self.options.path, "kwargs": self.options.kwargs,
            "classes": self.options.classes, "labels": self.options.labels,
            "threshold": self.options.threshold, "batch_size": self.options.batch_size,
        }


@decider("python", options=PythonOptions)
def _make(options: PythonOptions, run_config: RunConfig) -> Decider:
    return PythonDecider(options, run_config)
