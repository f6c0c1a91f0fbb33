"""A chat completion (as parsed JSON, or a litellm response dumped to one) normalised to what
decisions are made from: text, refusal, finish reason, logprobs, usage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_LOGPROB_TOKENS", "normalise_json"]

MAX_LOGPROB_TOKENS = 64


def _usage(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    get = raw.get if isinstance(raw, Mapping) else (lambda k, d=None: getattr(raw, k, d))
    details = get("prompt_tokens_details")
    dget = details.get if isinstance(details, Mapping) else (lambda k, d=None: getattr(details, k, d))
    return {
        "prompt_tokens": int(get("prompt_tokens") or 0),
        "completion_tokens": int(get("completion_tokens") or 0),
        "cached_tokens": int((dget("cached_tokens") if details is not None else 0) or 0),
    }


def _logprobs_of(choice: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The first ``MAX_LOGPROB_TOKENS`` tokens' logprobs and top alternatives of a choice."""
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    return [
        {"token": t["token"], "logprob": float(t["logprob"]),
         "top": [[alt["token"], float(alt["logprob"])] for alt in (t.get("top_logprobs") or [])]}
        for t in content[:MAX_LOGPROB_TOKENS]
    ]


def normalise_json(completion: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a chat completion (as parsed JSON, or a litellm response dumped to one) that
    decisions are made from (the openai path reads the body itself: the SDK's typed request
    transform and response models cost ~1 ms per call)."""
    choice = completion["choices"][0]
    message = choice.get("message") or {}
    return {
        "text": message.get("content") or "",
        "refusal": message.get("refusal"),
        "finish_reason": choice.get("finish_reason"),
        "logprobs": _logprobs_of(choice),
        "usage": _usage(completion.get("usage")),
        "model": completion.get("model"),
    }
