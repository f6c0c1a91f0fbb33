"""Reading a REST classifier's JSON answer: paths into the body (``results.0.category_scores``,
``$.labels[0]['name']``) and what they point at turned into a policy label, its confidence and the
probability of every label (through :mod:`.scored`, like every score-giving kind).

An answer that lacks a path, or holds something that is not a class or a probability there, raises
``ValueError`` naming what was found; the decider records it as the item's ``invalid`` outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..inputs.policies import Policy
from .scored import policy_scores, scored_decision

__all__ = ["Answer", "Path", "parse_path", "read_answer"]

Path = tuple[str | int, ...]
"""Keys (str) and list indices (int) from the top of the body down."""

_STEP = re.compile(r"""\.?(?:\[(-?\d+)\]|\[(['"])(.*?)\2\]|([^.\[\]]+))""")


def parse_path(text: str) -> Path:
    """``results.0.category_scores.hate`` or ``$.results[0]["category_scores"]`` as steps: a key,
    or an index where the step is an integer (``0``, ``[0]``, ``-1``); ``['a.b']`` quotes a key
    that holds dots. Raises ``ValueError`` for an empty or malformed path."""
    body = text.strip().removeprefix("$")
    steps: list[str | int] = []
    pos = 0
    while pos < len(body):
        match = _STEP.match(body, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"path {text!r}: cannot read it from {body[pos:]!r}; write steps "
                             "as a.b.0.c or a['b'][0]")
        index, _, quoted, plain = match.groups()
        if index is not None or (plain is not None and re.fullmatch(r"-?\d+", plain)):
            steps.append(int(index if index is not None else plain))
        else:
            steps.append(quoted if quoted is not None else plain)
        pos = match.end()
    if not steps:
        raise ValueError(f"path {text!r} is empty")
    return tuple(steps)


def _show(path: Path) -> str:
    return ".".join(str(step) for step in path) or "the top"


def value_at(body: Any, path: Path) -> Any:
    """What ``path`` points at in ``body``; ``ValueError`` where a step finds nothing."""
    value = body
    for depth, step in enumerate(path):
        here = _show(path[:depth])
        if isinstance(value, Mapping) and str(step) in value:
            value = value[str(step)]
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            found = (f"keys {sorted(value)[:8]}" if isinstance(value, Mapping) else
                     f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__)
            raise ValueError(f"the answer has no {step!r} at {here} ({found} there)")
    return value


def class_scores(value: Any) -> Any:
    """A list of ``{"label": ..., "score": ...}`` objects (Hugging Face's text-classification
    shape) as a mapping class -> score; any other value unchanged."""
    if isinstance(value, list) and value and all(
            isinstance(v, Mapping) and "label" in v and "score" in v for v in value):
        classes = [str(v["label"]) for v in value]
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes {classes} repeat")
        return {str(v["label"]): v["score"] for v in value}
    return value


def class_name(value: Any) -> str:
    """A class as its name: strings as they are, numbers as digits, booleans as JSON spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise ValueError(f"the label is {type(value).__name__} {value!r}, not a class name")


@dataclass(frozen=True)
class Answer:
    """A decided policy label, its confidence (None for a label-only answer) and the probability
    of every policy label (None unless the answer gives a distribution or a two-label score)."""

    label: str
    confidence: float | None
    scores: dict[str, float] | None


def read_answer(body: Any, policy: Policy, *, score_path: Path | None, label_path: Path | None,
                labels: Mapping[str, str] | None, threshold: float | None) -> Answer:
    """The decision an answer gives under ``policy``.

    * ``score_path`` alone: a probability per class (or one probability of the violating label of
      a two-label policy), decided like every scored kind (:func:`.scored.scored_decision`).
    * ``label_path`` alone: the class there, mapped by ``labels``; no confidence.
    * both: the class at ``label_path`` with the score at ``score_path`` as its probability (for a
      two-label policy the other label gets the rest, and ``threshold`` applies).
    """
    if label_path is None:
        assert score_path is not None, "the options require a path"
        scored = scored_decision(class_scores(value_at(body, score_path)), policy, labels, threshold)
        return Answer(scored.label, scored.confidence, scored.scores)
    cls = class_name(value_at(body, label_path))
    label = labels.get(cls) if labels is not None else cls
    if label not in policy.label_names:
        where = "labels: maps it to nothing" if labels is not None else "it is not a policy label"
        raise ValueError(f"class {cls!r} is unknown ({where}; policy labels: {policy.label_names})")
    if score_path is None:
        return Answer(label, None, None)
    p = policy_scores({label: value_at(body, score_path)}, policy, None)[label]
    if len(policy.label_names) != 2:
        return Answer(label, p, None)
    other = next(name for name in policy.label_names if name != label)
    scored = scored_decision({label: p, other: 1.0 - p}, policy, None, threshold)
    return Answer(scored.label, scored.confidence, scored.scores)
