"""The stub server's "model": a deterministic keyword rule that answers like an OpenAI chat model.

It reads the text inside ``<item>...</item>`` of the last user message (the whole message if there
are no tags) and answers the violating label if that text contains one of ``violating_words``
(case-insensitive, matched at a word start: ``hate`` matches ``hateful``), else the benign label.

The label names come from the system prompt's line ``... one of: hate, none.`` (the phrasing of
:func:`evalharness.deciders.embedded.answer_instruction`), else ``violating`` / ``none``. The
violating label is the first name that is not a usual benign name (``none``, ``safe``, ``ok``...),
the benign label the first usual benign name, else the last label.

Replies follow OpenAI's shapes: a bare label, or ``{"label": ..., "confidence": ...}`` when
``response_format`` is ``json_object`` / ``json_schema``; ``usage`` with
``prompt_tokens_details.cached_tokens``; ``logprobs.content`` when asked. Two trigger words (exact,
case-sensitive, in the item text) give a refusal (``message.refusal`` set, content null) or an
off-label answer.

A bundled request (its ``response_format`` schema has one object per policy, each with a label
enum) gets one JSON object with every policy's label, each decided by the same rule.

Content may be a string or OpenAI content parts: ``text`` parts, and ``image_url`` parts whose
``url`` must be a base64 ``data:`` URL of a PNG, JPEG, GIF or WebP image (anything else is a 400,
as OpenAI answers an unreadable image); a model made with ``vision=False`` answers every image
part with a 400, as text-only models do. What an image "shows" is the text written in its bytes
(e.g. a PNG ``tEXt`` chunk): a violating word there makes the item violating, as a word in the
text does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_VIOLATING_WORDS = ("hate", "kill", "stupid", "idiot", "scam", "violating")
BENIGN_NAMES = ("none", "safe", "ok", "benign", "clean", "ham", "not_spam", "neutral", "normal", "no")
OFF_LABEL_TEXT = "I think it might be hateful"
REFUSAL_TEXT = "I'm sorry, but I can't help with that."

_ITEM = re.compile(r"<item>\s*(.*?)\s*</item>", re.S | re.I)
_ONE_OF = re.compile(r"one of:\s*([^\n]+)", re.I)
_LABEL = re.compile(r"^[A-Za-z][\w-]*$")
_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")
_DATA_URL = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,(.+)", re.S)
_IMAGE_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
                "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}


class RequestError(Exception):
    """A request the stub rejects, with an HTTP status and an OpenAI-shaped error body."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": "invalid_request_error",
                               "param": param, "code": code}}


@dataclass(frozen=True)
class Reply:
    """One completion: the response body plus what the log needs."""

    body: dict[str, Any]
    item: str
    text: str
    answer: str
    """``label``, ``refusal`` or ``offlabel``."""


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    """The text of the last user message (text parts joined), or '' if there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def item_text(user_text: str) -> str:
    """The text inside ``<item>...</item>``, or the whole message if it has no such tags."""
    found = _ITEM.search(user_text)
    return found.group(1) if found else user_text.strip()


def image_digests(messages: Sequence[dict[str, Any]]) -> list[str]:
    """sha256 (hex) of each image of the last user message, in order (for the request log)."""
    return _last_user_images(messages, lambda data: hashlib.sha256(data).hexdigest())


def _last_user_images(messages: Sequence[dict[str, Any]], each: Callable[[bytes], str]) -> list[str]:
    """``each`` of every image (decoded bytes) of the last user message, in order."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return [each(_decoded(part["image_url"]["url"]))
                    for part in (content if isinstance(content, list) else [])
                    if isinstance(part, dict) and part.get("type") == "image_url"]
    return []


def _decoded(url: str) -> bytes:
    found = _DATA_URL.fullmatch(url)
    if not found:
        raise RequestError("Invalid image URL: expected a base64 data URL of a PNG, JPEG, GIF or "
                           "WebP image", param="messages", code="invalid_image_url")
    try:
        data = base64.b64decode(found.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("Invalid image data: the base64 does not decode", param="messages",
                           code="invalid_image_format") from None
    if not data.startswith(_IMAGE_MAGIC[found.group(1)]):
        raise RequestError(f"Invalid image data: not a {found.group(1)} image", param="messages",
                           code="invalid_image_format")
    return data


def _check_content(content: Any, vision: bool) -> None:
    """A message's content is a string or a list of text and (for a vision model) image parts."""
    if isinstance(content, str) or content is None:
        return
    if not isinstance(content, list):
        raise RequestError("content must be a string or a list of parts", param="messages")
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        if kind != "image_url":
            raise RequestError(f"content part of type {kind!r} is not 'text' or 'image_url'",
                               param="messages")
        if not vision:
            raise RequestError("Invalid content type. image_url is only supported by certain "
                               "models.", param="messages")
        url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"),
                                                                      dict) else None
        _decoded(url if isinstance(url, str) else "")


def bundle_labels(fmt: Any) -> dict[str, list[str]] | None:
    """The labels per policy of a bundled answer's schema (``{policy: {label: enum, ...}}``),
    or None for a one-policy request."""
    schema = ((fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
              if isinstance(fmt, dict) else None)
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or "label" in properties:
        return None
    found = {policy: part.get("properties", {}).get("label", {}).get("enum")
             for policy, part in properties.items() if isinstance(part, dict)}
    return found if found and all(isinstance(v, list) and v for v in found.values()) else None


def _roles(names: list[str]) -> tuple[str, str]:
    """(violating label, benign label) of a label set: the first usual benign name (else the
    last label), and the first other name that is not a usual benign one."""
    benign = next((n for n in names if n.lower() in BENIGN_NAMES), names[-1])
    violating = next((n for n in names if n != benign and n.lower() not in BENIGN_NAMES),
                     next(n for n in names if n != benign))
    return violating, benign


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def tokenize(text: str) -> list[str]:
    """A crude, deterministic tokenizer: words and punctuation runs with their leading space."""
    return _TOKEN.findall(text)


def _token_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


class StubModel:
    """Deterministic chat completions; thread-safe (only the prompt-prefix cache is shared)."""

    def __init__(
        self,
        *,
        violating_words: Sequence[str] = DEFAULT_VIOLATING_WORDS,
        refusal_word: str | None = "REFUSEME",
        offlabel_word: str | None = "RAMBLE",
        confidence: float = 0.9,
        json_schema_supported: bool = True,
        model: str = "stub",
        vision: bool = True,
    ) -> None:
        if not 0.0 < confidence < 1.0:
            raise ValueError("confidence must be in (0, 1)")
        self.violating_words = tuple(violating_words)
        self._violating = (
            re.compile(r"\b(?:" + "|".join(re.escape(w) for w in self.violating_words) + ")", re.I)
            if self.violating_words else None
        )
        self.refusal_word = refusal_word
        self.offlabel_word = offlabel_word
        self.confidence = confidence
        self.json_schema_supported = json_schema_supported
        self.model = model
        self.vision = vision
        self._serial = 0
        self._prefixes: set[str] = set()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._prefixes.clear()

    # -- the rule ---------------------------------------------------------------------------

    def labels(self, messages: Sequence[dict[str, Any]]) -> tuple[list[str], str, str]:
        """(all labels, violating label, benign label) for this conversation."""
        names: list[str] = []
        for message in messages:
            if message.get("role") not in ("system", "developer"):
                continue
            found = _ONE_OF.search(_content_text(message.get("content")))
            if found:
                parts = [p.strip().strip(".").strip() for p in found.group(1).split(",")]
                names = [p for p in parts if _LABEL.match(p)]
        if len(names) < 2:
            names = ["violating", "none"]
        return names, *_roles(names)

    def decide(self, item: str, violating: str, benign: str) -> str:
        if self._violating is not None and self._violating.search(item):
            return violating
        return benign

    # -- the response -----------------------------------------------------------------------

    def complete(self, body: Any) -> Reply:
        """The chat.completion for a request body; raises :class:`RequestError` for bad requests."""
        messages, json_mode, logprobs, top_k, max_tokens = self.check(body)
        text = last_user_text(messages)
        item = item_text(text)
        names, violating, benign = self.labels(messages)
        shown = " ".join([item, *(_last_user_images(messages, lambda data: data.decode("latin-1")))])

        refusal: str | None = None
        if self.refusal_word and self.refusal_word in item:
            answer, label, content = "refusal", None, None
            refusal = REFUSAL_TEXT
            tokens = tokenize(refusal)
            label_at = -1
        else:
            if self.offlabel_word and self.offlabel_word in item:
                answer, label = "offlabel", OFF_LABEL_TEXT
            else:
                answer, label = "label", self.decide(shown, violating, benign)
            if json_mode:
                prefix, suffix = '{"label": "', f'", "confidence": {self.confidence}}}'
            else:
                prefix, suffix = "", ""
            head = tokenize(prefix)
            label_tokens = [label] if answer == "label" else tokenize(label)
            tokens = head + label_tokens + tokenize(suffix)
            label_at = len(head) if answer == "label" else -1
            content = prefix + label + suffix
            bundle = bundle_labels(body.get("response_format"))
            if bundle is not None and answer == "label":
                content = json.dumps({policy: {"label": self.decide(shown, *_roles(labels)),
                                               "confidence": self.confidence}
                                      for policy, labels in bundle.items()})
                tokens, label_at = tokenize(content), -1

        finish = "stop"
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens, finish = tokens[:max_tokens], "length"
            if content is not None:
                content = "".join(tokens)
            else:
                refusal = "".join(tokens)

        logprob_block = None
        if logprobs:
            entries = [self._logprob_entry(tok, top_k, names if i == label_at else None,
                                           label if i == label_at else None)
                       for i, tok in enumerate(tokens)]
            logprob_block = ({"content": entries, "refusal": None} if content is not None
                             else {"content": None, "refusal": entries})

        with self._lock:
            self._serial += 1
            serial = self._serial
            prefix_key = hashlib.sha256(
                json.dumps(messages[:-1], sort_keys=True).encode()).hexdigest()
            seen = prefix_key in self._prefixes
            self._prefixes.add(prefix_key)
        prompt_tokens = sum(self._count(m) for m in messages)
        cached = sum(self._count(m) for m in messages[:-1]) if seen else 0

        body_out = {
            "id": f"chatcmpl-stub-{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": (body.get("model") or self.model),
            "system_fingerprint": "fp_stub",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": logprob_block,
                "finish_reason": finish,
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(tokens),
                "total_tokens": prompt_tokens + len(tokens),
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
        return Reply(body=body_out, item=item, text=text, answer=answer)

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": self.model, "object": "model", "created": 0, "owned_by": "evalharness-stub"}]}

    def check(self, body: Any) -> tuple[list[dict[str, Any]], bool, bool, int, int | None]:
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and "role" in m for m in messages):
            raise RequestError("'messages' must be a non-empty list of {role, content} objects",
                               param="messages")
        if body.get("stream"):
            raise RequestError("streaming is not supported by the stub server", param="stream")
        for message in messages:
            _check_content(message.get("content"), self.vision)
        json_mode = False
        fmt = body.get("response_format")
        if fmt is not None:
            kind = fmt.get("type") if isinstance(fmt, dict) else None
            if kind == "json_schema" and not self.json_schema_supported:
                raise RequestError("response_format type 'json_schema' is not supported by this "
                                   "server; use 'json_object'", param="response_format")
            if kind not in ("text", "json_object", "json_schema"):
                raise RequestError(f"response_format type {kind!r} is not one of 'text', "
                                   "'json_object', 'json_schema'", param="response_format")
            json_mode = kind != "text"
        logprobs = bool(body.get("logprobs"))
        top_k = body.get("top_logprobs") or 0
        if not isinstance(top_k, int) or not 0 <= top_k <= 20:
            raise RequestError("top_logprobs must be an integer from 0 to 20", param="top_logprobs")
        if top_k and not logprobs:
            raise RequestError("top_logprobs requires logprobs: true", param="top_logprobs")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise RequestError("max_tokens must be a positive integer", param="max_tokens")
        return messages, json_mode, logprobs, top_k, max_tokens

    def _logprob_entry(self, token: str, top_k: int, names: list[str] | None,
                       label: str | None) -> dict[str, Any]:
        if names is None or label is None:
            entry = _token_entry(token, 0.0)
            entry["top_logprobs"] = [_token_entry(token, 0.0)] if top_k else []
            return entry
        others = [n for n in names if n != label]
        # the chosen label gets `confidence`; the others share the rest minus 0.01 (sum < 1)
        rest = (1.0 - self.confidence - 0.01) / len(others) if others else 0.0
        ranked = [(label, self.confidence)] + [(n, max(rest, 1e-6)) for n in others]
        entry = _token_entry(token, math.log(self.confidence))
        entry["top_logprobs"] = [_token_entry(n, math.log(p)) for n, p in ranked[:top_k]]
        return entry

    @staticmethod
    def _count(message: dict[str, Any]) -> int:
        return max(1, len(_content_text(message.get("content"))) // 4) + 4
