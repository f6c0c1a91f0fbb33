"""``kind: sklearn``: a saved scikit-learn pipeline (text in, ``predict_proba`` and ``classes_`` out).

Files are read with skops by default, which builds only the types it (or ``trusted_types:``)
trusts. joblib and pickle files run code when they load, so they need ``trusted: true``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..inputs.config import RunConfig, file_sha256
from ..inputs.policies import Policy
from ..records import GoldenItem
from .base import Decider
from .registry import decider
from .scored import ModelFileOptions, ScoringDecider, check_scored, model_file, outputs_from_array

__all__ = ["SklearnDecider", "SklearnOptions"]


class SklearnOptions(ModelFileOptions):
    """A saved scikit-learn pipeline that takes texts and has ``predict_proba`` and ``classes_``."""

    kind: Literal["sklearn"]
    format: Literal["skops", "joblib", "pickle"] = "skops"
    """How the file was saved: ``skops`` (``skops.io.dump``; safe to load), ``joblib`` or
    ``pickle`` (both run code from the file when it loads: they need ``trusted: true``)."""
    trusted_types: list[str] = Field(default_factory=list)
    """skops files: types to build beyond those skops trusts, as ``skops.io.get_untrusted_types``
    names them (e.g. ``numpy.strings.lower``); any other type is refused."""
    trusted: bool = False
    """You trust this file completely: required for ``joblib`` and ``pickle``; with ``skops``,
    every type in the file is built."""


class SklearnDecider(ScoringDecider):
    """Runs ``predict_proba`` of a saved pipeline on batches of texts."""

    kind = "sklearn"

    def __init__(self, options: SklearnOptions, run_config: RunConfig) -> None:
        super().__init__(options, run_config)
        self.options: SklearnOptions = options
        self.model: Any = None
        self.classes: list[str] = []
        self.path: Path | None = None
        self.load_warnings: list[str] = []

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """The file exists and may be loaded under the format's trust rules (nothing is built)."""
        check_scored(self.options, policies, self.run_config)
        self.path = model_file(self.options, self.run_config)
        fmt = self.options.format
        if fmt in ("joblib", "pickle") and not self.options.trusted:
            raise self.problem(
                f"format: {fmt} runs code from {self.path.name} when it loads", "format",
                fix="save the pipeline with skops.io.dump and use format: skops, or set "
                    "trusted: true if you trust whoever wrote the file")
        if fmt == "skops" and not self.options.trusted:
            untrusted = sorted(set(self._untrusted_types()) - set(self.options.trusted_types))
            if untrusted:
                raise self.problem(
                    f"{self.path.name} holds types skops does not trust: {untrusted}",
                    "trusted_types",
                    fix="if you trust them, list them under trusted_types:, or re-save the "
                        "pipeline without them")

    def _untrusted_types(self) -> list[str]:
        try:
            import skops.io as sio
        except ImportError:
            raise self.problem("format: skops needs the skops package", "format",
                               fix="pip install skops (part of evalharness[local])") from None
        try:
            return list(sio.get_untrusted_types(file=self.path))
        except Exception as exc:  # not a skops file: bad input, said in one line
            raise self.problem(f"{self.path} is not a readable skops file "
                               f"({type(exc).__name__}: {exc})", "path",
                               fix="save it with skops.io.dump, or set format: joblib / pickle") from None

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        assert self.path is not None, "check() runs before setup()"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.model = self._load()
        self.load_warnings = sorted({str(w.message).splitlines()[0] for w in caught})
        if not (hasattr(self.model, "predict_proba") and hasattr(self.model, "classes_")):
            raise self.problem(
                f"{self.path.name} holds a {type(self.model).__name__}, which has no "
                "predict_proba and classes_", "path",
                fix="save a fitted classifier (or pipeline ending in one) that gives probabilities")
        self.classes = [str(c) for c in self.model.classes_]
        check_scored(self.options, policies, self.run_config, self.classes)

    def _load(self) -> Any:
        assert self.path is not None
        try:
            if self.options.format == "skops":
                import skops.io as sio

                trusted = self._untrusted_types() if self.options.trusted \
                    else list(self.options.trusted_types)
                return sio.load(self.path, trusted=trusted)
            if self.options.format == "joblib":
                import joblib

                return joblib.load(self.path)
            import pickle

            with open(self.path, "rb") as fh:
                return pickle.load(fh)
        except Exception as exc:  # a file that does not load is bad input
            raise self.problem(f"cannot load {self.path} as {self.options.format}: "
                               f"{type(exc).__name__}: {exc}", "path",
                               fix="check format: and the scikit-learn version it was saved with") from None

    def predict(self, texts: list[str]) -> list[Any]:
        return outputs_from_array(self.model.predict_proba(texts), self.classes)

    def describe(self) -> dict[str, Any]:
        steps = getattr(self.model, "steps", None)
        return {
            "name": self.name, "kind": self.kind,
            "model": str(self.path), "sha256": file_sha256(self.path) if self.path else None,
            "format": self.options.format, "trusted": self.options.trusted,
            "trusted_types": self.options.trusted_types,
            "estimator": [f"{n}:{type(s).__name__}" for n, s in steps] if steps
            else type(self.model).__name__ if self.model is not None else None,
            "classes": self.classes, "labels": self.options.labels,
            "threshold": self.options.threshold, "batch_size": self.options.batch_size,
            "load_warnings": self.load_warnings,
        }


@decider("sklearn", options=SklearnOptions)
def _make(options: SklearnOptions, run_config: RunConfig) -> Decider:
    return SklearnDecider(options, run_config)
