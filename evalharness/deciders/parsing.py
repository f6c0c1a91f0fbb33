"""Turn a model's reply into a label, strictly: anything off the label set is ``invalid``.

Nothing is coerced to the nearest label. A refusal (the provider's ``refusal`` field, a
``content_filter`` stop, or a reply that declines) is its own outcome. Confidence comes from token
log-probabilities when the endpoint returns them, otherwise from a confidence the model states in
JSON (marked ``stated``), otherwise none.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

_REFUSAL = re.compile(
    r"^\s*(i\s*(can(no|')t|cannot|am\s+(not\s+able|unable)|won'?t|'m\s+(sorry|unable|not\s+able))"
    r"|sorry,?\s+(but\s+)?i|as\s+an\s+ai\b|i\s+apologi[sz]e)",
    re.I,
)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_PREFIX = re.compile(r"^\s*(label|answer|decision|classification)\s*[:=-]\s*", re.I)


@dataclass
class Parsed:
    """What a reply says."""

    outcome: str
    label: str | None = None
    confidence: float | None = None
    confidence_source: str | None = None
    scores: dict[str, float] | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def _plain(text: str) -> str:
    text = _PREFIX.sub("", text.strip())
    return text.strip().strip("\"'`*.,;:!()[]{} \n\t").lower()


def parse_text(text: str, labels: list[str]) -> tuple[str | None, tuple[int, int] | None]:
    """The label a plain-text reply gives and its character span, or (None, None).

    Accepts the bare label with surrounding whitespace, quotes, punctuation, case differences or a
    ``Label:`` prefix; nothing else.
    """
    candidate = _plain(text)
    if candidate in labels:
        start = text.lower().find(candidate)
        return candidate, (start, start + len(candidate))
    return None, None


def parse_json(text: str, labels: list[str]) -> tuple[str | None, float | None, tuple[int, int] | None, str | None]:
    """(label, stated confidence, span of the label value, problem) of a JSON reply."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None, None, None, "reply is not valid JSON"
    if not isinstance(data, dict) or not isinstance(data.get("label"), str):
        return None, None, None, 'reply has no string "label"'
    label = data["label"].strip().lower()
    if label not in labels:
        return None, None, None, f"label {data['label']!r} is not one of {labels}"
    stated = data.get("confidence")
    confidence = float(stated) if isinstance(stated, (int, float)) and 0 <= stated <= 1 else None
    match = re.search(r'"label"\s*:\s*"([^"]*)"', text)
    span = (match.start(1), match.end(1)) if match else None
    return label, confidence, span, None


def logprob_confidence(
    tokens: list[dict[str, Any]], span: tuple[int, int], label: str, labels: list[str]
) -> dict[str, float] | None:
    """Per-label probabilities from the alternatives at the label's first token, normalised over
    the policy's labels.

    ``tokens`` are ``{"token", "logprob", "top": [[token, logprob], ...]}`` in output order. An
    alternative counts for a label when it is the start of exactly one label's name. A label absent
    from the listed alternatives gets the smallest listed probability (an upper bound on its true
    probability), so the chosen label's confidence errs low, never high.
    """
    offset, first = 0, None
    for tok in tokens:
        end = offset + len(tok["token"])
        if end > span[0] and offset < span[1]:
            first = tok
            break
        offset = end
    if first is None:
        return None
    alternatives = first.get("top") or [[first["token"], first["logprob"]]]
    mass: dict[str, float] = {}
    for token, logprob in alternatives:
        piece = token.strip().strip("\"'").lower()
        matches = [name for name in labels if piece and name.startswith(piece)]
        if len(matches) == 1:
            mass[matches[0]] = mass.get(matches[0], 0.0) + math.exp(logprob)
    mass.setdefault(label, math.exp(first["logprob"]))
    floor = math.exp(min(logprob for _, logprob in alternatives))
    total = sum(mass.get(name, floor) for name in labels)
    return {name: mass.get(name, floor) / total for name in labels}


def parse_reply(response: dict[str, Any], labels: list[str], mode: str) -> Parsed:
    """Interpret a normalised chat response (see :mod:`evalharness.deciders.chat`)."""
    text = response.get("text") or ""
    if response.get("refusal") or response.get("finish_reason") == "content_filter":
        return Parsed("refusal")
    if mode == "text":
        label, span = parse_text(text, labels)
        stated, problem = None, None if label else "reply is not exactly one of the labels"
    else:
        label, stated, span, problem = parse_json(text, labels)
    return _read(response, text, labels, label, stated, span, problem)


def parse_bundle_reply(response: dict[str, Any], policy_id: str, labels: list[str],
                       mode: str) -> Parsed:
    """The answer for one policy in a bundled reply: the ``policy_id`` key of a JSON object
    (``{"hate_speech": {"label": ..., "confidence": ...}, ...}``), or its ``policy_id: label``
    line of a text reply. A policy missing or off its labels is ``invalid`` for that policy
    only."""
    text = response.get("text") or ""
    if response.get("refusal") or response.get("finish_reason") == "content_filter":
        return Parsed("refusal")
    label = stated = span = None
    if mode == "text":
        line = re.search(rf"^[\s*`]*{re.escape(policy_id)}[\s*`]*:(.*)$", text, re.M | re.I)
        if line is None:
            problem: str | None = f"reply has no line for {policy_id}"
        else:
            label, inner = parse_text(line.group(1), labels)
            span = (line.start(1) + inner[0], line.start(1) + inner[1]) if inner else None
            problem = None if label else f"{policy_id}: not exactly one of the labels"
    else:
        body = _FENCE.match(text.strip())
        try:
            data = json.loads(body.group(1) if body else text)
        except json.JSONDecodeError:
            data, problem = None, "reply is not valid JSON"
        if data is not None:
            part = data.get(policy_id) if isinstance(data, dict) else None
            if not isinstance(part, dict):
                problem = f"reply has no object for {policy_id}"
            else:
                label, stated, _, problem = parse_json(json.dumps(part), labels)
                found = re.search(rf'"{re.escape(policy_id)}"\s*:\s*\{{[^{{}}]*?"label"\s*:\s*"'
                                  r'([^"]*)"', text)
                span = (found.start(1), found.end(1)) if found else None
                if problem:
                    problem = f"{policy_id}: {problem.removeprefix('reply has no string ')}"
    return _read(response, text, labels, label, stated, span, problem)


def _read(response: dict[str, Any], text: str, labels: list[str], label: str | None,
          stated: float | None, span: tuple[int, int] | None, problem: str | None) -> Parsed:
    """The outcome, label and confidence of a reply once its label (or problem) is found."""
    if label is None:
        if _REFUSAL.match(text):
            return Parsed("refusal")
        return Parsed("invalid", error=problem)
    tokens = response.get("logprobs")
    if tokens and span is not None:
        scores = logprob_confidence(tokens, span, label, labels)
        if scores is not None:
            return Parsed("ok", label, scores[label], "logprobs", scores)
    if stated is not None:
        scores = None
        if len(labels) == 2:
            other = labels[1 - labels.index(label)]
            scores = {label: stated, other: 1 - stated}
        return Parsed("ok", label, stated, "stated", scores)
    return Parsed("ok", label)
