"""The options of the ``llm`` decider kind (``deciders:`` entries with ``kind: llm``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..inputs.config import DeciderOptions

__all__ = ["LlmDeciderConfig", "Price"]


class Price(BaseModel):
    """Token prices in USD per million tokens; overrides litellm's price map (use 0 for local)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    """Price of prompt tokens served from the provider's cache (default: the input price)."""


class LlmDeciderConfig(DeciderOptions):
    """A language model that reads the policy prompt and answers with a label."""

    kind: Literal["llm"]
    model: str = "embedded"
    """``embedded`` runs a GGUF model in-process with llama.cpp (SmolLM2-135M by default); any
    other value is a litellm model string, e.g. ``openai/gpt-4o-mini``, ``anthropic/<model>``, or
    ``openai/<alias>`` with ``api_base`` for any OpenAI-compatible server (vLLM, llama.cpp server)."""
    gguf: str | None = None
    """Path to another GGUF file for ``model: embedded``."""
    n_ctx: int = Field(default=2048, ge=256)
    """Context window for the embedded model; longer items are truncated from the middle."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for the embedded model (default: all cores)."""
    compute_cost_per_hour_usd: float = Field(default=0.0, ge=0)
    """What an hour of the machine running the embedded model costs."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8080/v1``."""
    api_bases: list[str] | None = Field(default=None, min_length=1)
    """A fleet of replicas of one model (vLLM, llama.cpp server...) instead of one ``api_base``:
    each call goes to the healthy replica with the fewest requests in flight, each at most
    ``concurrency`` at once; a replica that fails is taken out and retried later; every decision
    records the replica that answered (``endpoint``)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    api_version: str | None = None
    """API version, for Azure OpenAI."""
    client: Literal["auto", "openai", "litellm"] = "auto"
    """``auto`` calls OpenAI-compatible endpoints directly (a JSON POST over aiohttp; Azure through
    the openai SDK), with less CPU per request, and every other provider through litellm."""
    structured_output: Literal["auto", "json_schema", "json_object", "text"] = "auto"
    """How the model is asked to answer: a JSON schema, a JSON object (with the schema, as llama.cpp
    server accepts), or plain text parsed strictly. ``auto``: json_schema where litellm's model map
    says the model supports it, otherwise text."""
    logprobs: bool | None = None
    """Ask for token log-probabilities to derive the confidence (default: on for the OpenAI-compatible
    path, off for litellm providers)."""
    top_logprobs: int = Field(default=5, ge=0, le=20)
    """Alternatives per token to request; they give the per-label scores."""
    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature (0: the most likely answer)."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Output token limit (default 16 for text, 64 for JSON answers)."""
    seed: int | None = None
    """Sampling seed, for providers that support one."""
    concurrency: int = Field(default=8, ge=1, le=1024)
    """Most requests in flight to this endpoint; lowered automatically on rate limits."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Per-request timeout."""
    max_attempts: int = Field(default=4, ge=1, le=20)
    """Tries per item for retryable failures (429, 5xx, timeouts, connection errors)."""
    price: Price | None = None
    """Token prices; required when litellm's price map does not know the model."""
    vision: bool | None = None
    """Send each item's ``images`` with its text, as OpenAI-style ``image_url`` parts (data
    URLs; litellm translates them for other providers). Default: what litellm's model map says
    of the model; set it for a vision model it does not know (e.g. behind ``api_base``). A
    decider that cannot see images judges their items on text alone, and says so."""
    batch: bool = False
    """Send the run's requests through the provider's batch API (OpenAI's Batch API through the
    openai SDK, other providers through litellm where it supports them): answered within
    ``batch_window`` at the batch price (litellm's map; ``price:`` overrides). The run records
    each batch in ``batches.jsonl``, so ``--resume`` after a kill polls the batch it submitted
    instead of paying again."""
    batch_window: Literal["24h"] = "24h"
    """The completion window asked for (OpenAI offers 24h)."""
    batch_poll_s: float = Field(default=30.0, gt=0, le=3600)
    """Seconds between status checks of a submitted batch."""
    batch_max_requests: int = Field(default=50_000, ge=1, le=50_000)
    """Requests per batch (OpenAI's limit is 50,000 and 200 MB); more are split over batches."""
    bundle: str | None = None
    """Ask every policy of this bundle (the config's ``bundles:``) in one structured-output call
    per item instead of one call per policy. Each policy still gets its own decision row; the
    call's cost and token usage are split evenly over the bundle's policies."""
    prompt_variants: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    """Policy prompt variants to run (``default`` is ``prompt:``; others come from a policy's
    ``variants:``). With more than one, each becomes a decider named ``<name>@<variant>``."""

    @property
    def embedded(self) -> bool:
        return self.model == "embedded"

    @model_validator(mode="after")
    def _consistent(self) -> LlmDeciderConfig:
        if self.api_bases is not None:
            if self.api_base is not None:
                raise ValueError("give api_base (one endpoint) or api_bases (a fleet), not both")
            if len(set(self.api_bases)) != len(self.api_bases):
                raise ValueError("api_bases: each replica may be listed once")
            if self.model.startswith("azure/"):
                raise ValueError("api_bases: Azure OpenAI deployments take one api_base")
        if self.batch and self.api_bases is not None:
            raise ValueError("batch: a provider batch API takes one api_base, not a fleet")
        if self.embedded:
            remote = [f for f in ("api_base", "api_bases", "api_key_env", "api_version", "price")
                      if getattr(self, f) is not None] + (["batch"] if self.batch else [])
            if remote:
                raise ValueError(f"{remote} apply to remote models, not model: embedded")
            if self.vision:
                raise ValueError("vision: the embedded model reads text only; use a vision model "
                                 "behind api_base")
        elif self.gguf:
            raise ValueError("gguf applies to model: embedded only")
        if self.bundle is not None and self.prompt_variants != ["default"]:
            raise ValueError("bundle: a bundle asks each policy's default prompt; drop "
                             "prompt_variants or run the variants in an unbundled decider")
        if self.bundle is not None and self.policies is not None:
            raise ValueError("bundle: a bundled decider decides its bundle's policies; drop "
                             "policies:")
        if len(set(self.prompt_variants)) != len(self.prompt_variants):
            raise ValueError("prompt_variants: each variant may be listed once")
        return self
