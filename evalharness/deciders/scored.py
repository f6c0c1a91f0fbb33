"""Classifiers that give scores: turning a model's per-class probabilities (or one probability of
violating) into a policy's labels, a decided label and its confidence.

Shared by the kinds that run a team's existing classifier (``sklearn``, ``onnx``, ``python``,
``http``, ``precomputed``): each maps its model's classes to the policy's labels with ``labels:``
(several classes may map to one label; their probabilities add up) and may set a ``threshold`` on
the violating label of a two-label policy. :class:`ScoringDecider` is the in-process part the
``sklearn``, ``onnx`` and ``python`` kinds share: batches, latency, and every failure recorded as
an outcome.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import math
import numbers
import time
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from ..inputs.config import DeciderOptions
from ..inputs.policies import Policy
from ..records import Decision, GoldenItem
from ..records.errors import ConfigError
from .base import Decider, DecisionRequest

if TYPE_CHECKING:
    from ..inputs.config import RunConfig

__all__ = ["ClassifierOptions", "ModelFileOptions", "ScoredOptions", "Scored", "ScoringDecider",
           "check_scored", "decider_index", "model_file", "outputs_from_array", "policy_scores",
           "scored_decision"]


class ScoredOptions(DeciderOptions):
    """Keys every score-giving kind shares (the kind's own model adds ``kind`` and the rest)."""

    labels: dict[str, str] | None = None
    """Model class -> policy label, e.g. ``{"1": offensive, "0": none}``; several classes may map
    to one label (their probabilities add). Default: the classes are the policy's label names."""
    threshold: float | None = Field(default=None, ge=0, le=1)
    """For a policy with one violating and one other label: decide the violating label when its
    probability is at least this (default: the most probable label)."""
    cost_per_decision_usd: float = Field(default=0.0, ge=0)
    """What one decision of this classifier costs (compute, licence, API)."""

    @field_validator("labels", mode="before")
    @classmethod
    def _class_names(cls, value: Any) -> Any:
        """YAML reads ``{0: hate}`` with an integer key; classes are named as text."""
        return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else value


class ClassifierOptions(ScoredOptions):
    """Keys of the kinds that run a classifier in this process (``sklearn``, ``onnx``,
    ``python``)."""

    batch_size: int = Field(default=256, gt=0)
    """Texts per call of the model; each item's latency is its batch's time over its size."""


class ModelFileOptions(ClassifierOptions):
    """Where a saved classifier is: a file next to the config, or one an installed package
    ships (``package:`` + ``resource:``)."""

    path: str | None = None
    """The model file, relative to the config's folder."""
    package: str | None = None
    """An installed Python package that ships the model file (e.g. ``hatesonar``)."""
    resource: str | None = None
    """The file's path inside ``package``, e.g. ``model/model.onnx``."""

    @model_validator(mode="after")
    def _one_place(self) -> ModelFileOptions:
        if (self.path is None) == (self.package is None) or \
                (self.package is None) != (self.resource is None):
            raise ValueError("give either path: or package: with resource:")
        return self


def model_file(options: ModelFileOptions, run_config: RunConfig) -> Path:
    """The model file ``options`` name, which must exist. A package's file is found the way
    ``importlib.resources`` finds it, without importing the package (its import may load models)."""
    index = decider_index(run_config, options.name)
    if options.path is not None:
        path = run_config.resolve(options.path)
        if not path.is_file():
            raise run_config.problem(f"model file {path} not found", "deciders", index, "path",
                                     fix="give the saved model's path, relative to the config")
        return path
    assert options.package is not None and options.resource is not None
    try:
        spec = importlib.util.find_spec(options.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise run_config.problem(f"package {options.package!r} is not installed", "deciders",
                                 index, "package", fix="pip install the package that provides it")
    if spec.submodule_search_locations:
        found = [Path(p) / options.resource for p in spec.submodule_search_locations]
        path = next((p for p in found if p.is_file()), found[0])
    else:  # a package without folders on disk (e.g. zipped): ask importlib.resources
        path = Path(str(importlib.resources.files(options.package) / options.resource))
    if not path.is_file():
        raise run_config.problem(f"package {options.package!r} ships no file {options.resource!r}",
                                 "deciders", index, "resource",
                                 fix=f"name a file inside the package (looked at {path})")
    return path


@dataclass(frozen=True)
class Scored:
    """A decided label, its probability and the probability of every policy label."""

    label: str
    confidence: float
    scores: dict[str, float]


def _binary(policy: Policy) -> tuple[str, str] | None:
    """(violating, other) for a policy with exactly two labels, one of them violating."""
    if len(policy.label_names) == 2 and len(policy.violating) == 1:
        violating = policy.violating[0]
        return violating, next(n for n in policy.label_names if n != violating)
    return None


def _is_number(value: Any) -> bool:
    """A real number, numpy scalars included (``bool`` is not a score)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def policy_scores(output: Any, policy: Policy, labels: Mapping[str, str] | None) -> dict[str, float]:
    """Probability per policy label from a model's output: a mapping class -> probability, or a
    single number (the probability of the violating label of a two-label policy).

    Raises ``ValueError`` naming what is wrong (unknown class, not a probability), which the
    caller records as the item's ``invalid`` outcome.
    """
    if _is_number(output):
        pair = _binary(policy)
        if pair is None:
            raise ValueError(f"one score was given, but policy {policy.id} has labels "
                             f"{policy.label_names}; return a probability per class")
        output = {pair[0]: float(output), pair[1]: 1.0 - float(output)}
        labels = None
    if not isinstance(output, Mapping):
        raise ValueError(f"expected a probability per class or one number, got {type(output).__name__}")
    scores = {name: 0.0 for name in policy.label_names}
    for cls, value in output.items():
        label = labels.get(str(cls)) if labels is not None else str(cls)
        if label not in scores:
            where = "labels: maps it to nothing" if labels is not None else "it is not a policy label"
            raise ValueError(f"model class {cls!r} is unknown ({where}; policy labels: "
                             f"{policy.label_names})")
        try:
            p = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"class {cls!r}: {value!r} is not a number") from None
        if not (math.isfinite(p) and -1e-6 <= p <= 1 + 1e-6):
            raise ValueError(f"class {cls!r}: {p} is not a probability")
        scores[label] += min(max(p, 0.0), 1.0)
    return scores


def scored_decision(output: Any, policy: Policy, labels: Mapping[str, str] | None,
                    threshold: float | None) -> Scored:
    """The label a model's output decides under ``policy`` (see :func:`policy_scores`); with a
    ``threshold`` on a two-label policy, the violating label wins at or above it."""
    scores = policy_scores(output, policy, labels)
    pair = _binary(policy)
    if threshold is not None and pair is not None:
        label = pair[0] if scores[pair[0]] >= threshold else pair[1]
    else:
        label = max(policy.label_names, key=scores.__getitem__)
    return Scored(label, scores[label], scores)


def outputs_from_array(values: Any, classes: Sequence[Any] | None) -> list[Any]:
    """One output per row of a model's array: a 1-D array gives one number per item (the
    probability of violating), a 2-D array one mapping class -> probability per row, its columns
    named by ``classes``. ``ValueError`` says what does not fit."""
    import numpy as np

    array = np.asarray(values)
    if array.ndim == 1:  # numbers, or (object arrays) anything else, checked item by item
        return list(array) if array.dtype == object else [float(v) for v in array]
    if array.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array of probabilities, got shape {array.shape}")
    if classes is None:
        raise ValueError(f"a 2-D array ({array.shape[1]} columns) needs classes: naming its columns")
    if len(classes) != array.shape[1]:
        raise ValueError(f"the array has {array.shape[1]} columns but classes: names "
                         f"{len(classes)} ({list(classes)})")
    names = [str(c) for c in classes]
    return [dict(zip(names, map(float, row))) for row in array]


def decider_index(run_config: RunConfig, name: str) -> int:
    """Position of the ``deciders:`` entry called ``name`` (for errors naming its lines)."""
    return next(i for i, d in enumerate(run_config.deciders) if d.name == name)


def check_scored(options: ScoredOptions, policies: Sequence[Policy], run_config: RunConfig,
                 classes: Sequence[Any] | None = None) -> None:
    """Config errors for ``threshold`` on a policy that is not two-label, ``labels:`` naming a
    label no policy has, and (once the model is loaded) a model class nothing maps."""
    index = decider_index(run_config, options.name)
    for policy in policies:
        if options.threshold is not None and _binary(policy) is None:
            raise run_config.problem(
                f"threshold needs a policy with one violating and one other label; {policy.id} "
                f"has {policy.label_names}", "deciders", index, "threshold",
                fix="remove threshold (the most probable label wins), or limit the decider "
                    "with policies: [...]")
        if options.labels is not None:
            unknown = sorted(set(options.labels.values()) - set(policy.label_names))
            if unknown:
                raise run_config.problem(
                    f"labels: maps classes to {unknown}, which policy {policy.id} does not have "
                    f"(its labels: {policy.label_names})", "deciders", index, "labels",
                    fix="map every class to one of the policy's labels, or limit the decider "
                        "with policies: [...]")
        if classes is not None:
            known = options.labels if options.labels is not None else \
                {name: name for name in policy.label_names}
            unmapped = [str(c) for c in classes if str(c) not in known]
            if unmapped:
                raise run_config.problem(
                    f"the model's classes {unmapped} are not labels of policy {policy.id} "
                    f"({policy.label_names})", "deciders", index, "labels",
                    fix="map each class with labels: {" + ", ".join(
                        f"{c!r}: <label>" for c in map(str, classes)) + "}")


class ScoringDecider(Decider):
    """A classifier run in this process on batches of texts.

    A kind gives :meth:`predict` (one output per text: a mapping class -> probability, or one
    number); this class batches the items (each text once, whatever the number of policies),
    times each batch, and records failures as outcomes: a batch whose call raises, or returns the
    wrong number of outputs, gives every item of it an ``error``; an output that is not a
    probability gives that item ``invalid``.
    """

    confidence_source = "probability"
    source = "the classifier"
    """How errors name the model."""

    def __init__(self, options: ClassifierOptions, run_config: RunConfig) -> None:
        super().__init__(options.name)
        self.options = options
        self.run_config = run_config

    @property
    def index(self) -> int:
        """This decider's position in the config's ``deciders:``."""
        return decider_index(self.run_config, self.name)

    def problem(self, message: str, field: str | None = None, fix: str | None = None) -> ConfigError:
        """A config error pointing at this decider's entry (or one of its keys)."""
        loc = ("deciders", self.index) + ((field,) if field else ())
        return self.run_config.problem(message, *loc, fix=fix)

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        check_scored(self.options, policies, self.run_config)

    @abstractmethod
    def predict(self, texts: list[str]) -> Sequence[Any]:
        """One output per text, in order; may raise (the batch's items get ``error``)."""

    def failure(self, exc: Exception) -> str:
        """The ``error`` of every item of a batch whose :meth:`predict` raised."""
        return f"{self.source} raised {type(exc).__name__}: {str(exc)[:500]}"

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        by_item: dict[str, list[DecisionRequest]] = {}
        for request in requests:
            by_item.setdefault(request.item.id, []).append(request)
        groups = list(by_item.values())
        size = self.options.batch_size
        for start in range(0, len(groups), size):
            chunk = groups[start:start + size]
            texts = [group[0].item.text for group in chunk]
            began = time.perf_counter()
            failure: str | None = None
            try:
                outputs = list(self.predict(texts))
            except Exception as exc:  # the model's failure is the batch's outcome, not a crash
                outputs, failure = [], self.failure(exc)
            if failure is None and len(outputs) != len(texts):
                failure = f"{self.source} returned {len(outputs)} outputs for {len(texts)} texts"
            per_item = (time.perf_counter() - began) / len(texts)
            for output, group in zip(outputs if failure is None else [None] * len(chunk), chunk):
                for request in group:
                    if failure is not None:
                        yield self.decision(request, label=None, outcome="error", error=failure,
                                            latency_s=per_item)
                    else:
                        yield self.scored(request, output, per_item)

    def scored(self, request: DecisionRequest, output: Any, latency_s: float) -> Decision:
        """The decision one output gives (``invalid`` when it is no probability)."""
        try:
            scored = scored_decision(output, request.policy, self.options.labels,
                                     self.options.threshold)
        except ValueError as exc:
            return self.decision(request, label=None, outcome="invalid", error=str(exc),
                                 raw=repr(output)[:2000], latency_s=latency_s,
                                 cost_usd=self.options.cost_per_decision_usd)
        return self.decision(
            request, label=scored.label, outcome="ok", confidence=scored.confidence,
            confidence_source=self.confidence_source, scores=scored.scores, latency_s=latency_s,
            cost_usd=self.options.cost_per_decision_usd,
        )
