"""Eval configs: what to run, validated by pydantic with ``extra="forbid"``.

Relative paths in a config are resolved against the config file's folder. Policies are named by id
and looked up in ``policies_dir`` (default: the nearest ``policies/`` folder at or above the config).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..records.errors import ConfigError
from ..records.targets import Prevalences, RoutingTargets, SamplingDesign
from .yamlfile import YamlDocument, load_yaml, parse_model

Scalar = Union[str, int, float, bool]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SampleSpec(_Strict):
    """A seeded sample of the (filtered) golden set."""

    n: int | None = Field(default=None, gt=0)
    """Number of items to keep (all when the set is smaller)."""
    fraction: float | None = Field(default=None, gt=0, le=1)
    """Share of items to keep, instead of ``n``."""
    seed: int = 0
    """Seed of the sample; the same seed gives the same items."""
    stratify_by: str | None = None
    """Keep the share of each value of this field, e.g. ``labels.hate_speech`` or ``meta.source``."""

    @model_validator(mode="after")
    def _one_size(self) -> SampleSpec:
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of n or fraction")
        return self


class GoldenSetSpec(_Strict):
    """Where the items come from and which of them to use."""

    path: str
    """JSONL (optionally .gz), CSV or Parquet file, or a local Hugging Face dataset folder."""
    format: Literal["auto", "jsonl", "csv", "parquet", "hf"] = "auto"
    filter: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    """Keep items whose field equals the value (or one of the listed values). Fields: ``id``,
    ``meta.<key>``, ``labels.<policy>``."""
    sample: SampleSpec | None = None

    @field_validator("filter")
    @classmethod
    def _filter_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key != "id" and not key.startswith(("meta.", "labels.")):
                raise ValueError(f"filter field {key!r}: use id, meta.<key> or labels.<policy>")
        return value


class _DeciderBase(_Strict):
    name: str
    """Name in results; letters, digits, ``_ . -``."""
    policies: list[str] | None = None
    """Limit this decider to these policy ids (default: all the config's policies)."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("use letters, digits, _ . and - (no /, spaces or other signs)")
        return name


class Price(_Strict):
    """Token prices in USD per million tokens; overrides litellm's price map (use 0 for local)."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    """Price of prompt tokens served from the provider's cache (default: the input price)."""


class LlmDeciderConfig(_DeciderBase):
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
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    api_version: str | None = None
    """API version, for Azure OpenAI."""
    client: Literal["auto", "openai", "litellm"] = "auto"
    """``auto`` calls OpenAI-compatible endpoints through the openai SDK directly (less CPU per
    request) and every other provider through litellm."""
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
    prompt_variants: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    """Policy prompt variants to run (``default`` is ``prompt:``; others come from a policy's
    ``variants:``). With more than one, each becomes a decider named ``<name>@<variant>``."""

    @property
    def embedded(self) -> bool:
        return self.model == "embedded"

    @model_validator(mode="after")
    def _consistent(self) -> LlmDeciderConfig:
        if self.embedded:
            remote = [f for f in ("api_base", "api_key_env", "api_version", "price")
                      if getattr(self, f) is not None]
            if remote:
                raise ValueError(f"{remote} apply to remote models, not model: embedded")
        elif self.gguf:
            raise ValueError("gguf applies to model: embedded only")
        if len(set(self.prompt_variants)) != len(self.prompt_variants):
            raise ValueError("prompt_variants: each variant may be listed once")
        return self


class ClassicDeciderConfig(_DeciderBase):
    """TF-IDF features and logistic regression, trained on a disjoint golden set."""

    kind: Literal["classic"]
    train: GoldenSetSpec
    """Training items; their ids must not overlap the evaluated items."""
    features: Literal["word", "char", "word+char"] = "word+char"
    """Word 1-2 grams, character 2-5 grams within word bounds, or both."""
    max_features: int = Field(default=100_000, gt=0)
    """Vocabulary size per feature kind."""
    c: float = Field(default=4.0, gt=0)
    """Inverse regularisation strength of the logistic regression."""
    class_weight: Literal["balanced", "none"] = "balanced"
    """``balanced`` weights classes inversely to their frequency (rare violations count more)."""
    seed: int = 0
    """Seed of the logistic regression solver."""


class HumanDeciderConfig(_DeciderBase):
    """The golden set's own raters, scored against QA gold like any other decider."""

    kind: Literal["human"]
    cost_per_hour_usd: float = Field(ge=0)
    """Loaded hourly cost of a moderator (override per site with ``site_cost_per_hour_usd``)."""
    seconds_per_item: float | None = Field(default=None, gt=0)
    """Handling time when the annotations do not record it."""
    sites: dict[str, list[str]] = Field(default_factory=dict)
    """Map site name -> rater ids, when the data has no site."""
    site_cost_per_hour_usd: dict[str, float] = Field(default_factory=dict)
    """Hourly cost per site, where it differs from ``cost_per_hour_usd``."""
    leave_one_out: Literal["auto", "always", "never"] = "auto"
    """Grade each rater against the majority of the *other* raters: ``auto`` does so where the
    golden set says gold came from these raters."""
    seed: int = 0
    """Seed for picking which rater's judgment stands for the single-review human tier."""


class PrecomputedDeciderConfig(_DeciderBase):
    """Scores already in the golden set, e.g. from a production classifier."""

    kind: Literal["precomputed"]
    scores: str
    """Key in each item's ``scores`` holding ``{policy: probability of violating}``."""
    threshold: float = Field(default=0.5, ge=0, le=1)
    """Scores at or above it decide the violating label."""
    cost_per_decision_usd: float = Field(default=0.0, ge=0)
    """What one decision of the production classifier costs."""


DeciderConfig = Annotated[
    Union[LlmDeciderConfig, ClassicDeciderConfig, HumanDeciderConfig, PrecomputedDeciderConfig],
    Field(discriminator="kind"),
]


class CacheSpec(_Strict):
    """The response cache shared across runs (SQLite)."""

    enabled: bool = True
    """Read and write the cache."""
    dir: str | None = None
    """Folder of the cache database (default: ``$EVALHARNESS_CACHE_DIR``, else
    ``$EVALHARNESS_HOME/cache``, else ``~/.cache/evalharness``)."""
    epoch: int = 0
    """Bump to ignore earlier cached answers without deleting them (e.g. the provider changed the
    model behind the same name)."""


class RunConfig(_Strict):
    """An eval: golden set x policies x deciders."""

    name: str
    """Short name; part of the run id."""
    description: str = ""
    """Free text for readers of the config and the report."""
    golden_set: GoldenSetSpec
    """The items to evaluate."""
    policies: list[str] = Field(min_length=1)
    """Policy ids, looked up in ``policies_dir``."""
    policies_dir: str | None = None
    """Folder of policy files (default: the nearest ``policies/`` at or above this config)."""
    deciders: list[DeciderConfig] = Field(min_length=1)
    """Who decides: ``kind`` llm, classic, human or precomputed; each is graded against QA gold."""
    slice_by: list[str] = Field(default_factory=list)
    """Item ``meta`` keys to break every metric down by (list values count in each slice)."""
    output_dir: str | None = None
    """Where run folders go (default: ``results/`` in the current directory)."""
    cache: CacheSpec = Field(default_factory=CacheSpec)
    """The response cache (on by default; ``run --no-cache`` turns it off for one run)."""
    max_error_rate: float | None = Field(default=0.02, ge=0, le=1)
    """Error budget: when any decider's share of ``error`` outcomes exceeds it (default 2%), the
    run still writes all its files but exits with code 3; ``null`` turns the budget off."""
    prevalence: Prevalences = Field(default_factory=dict)
    """Production prevalence per policy id — the share of violating items production sees, e.g.
    ``hate_speech: 0.01``, or ``{overall: 0.01, slices: {market: {BR: 0.03}}}``. Golden sets are
    enriched; with a prevalence, reports and routing estimate every rate, volume and cost at it.
    Without one, they say their numbers hold at the golden set's own prevalence."""
    sampling: SamplingDesign | None = None
    """How the golden set was drawn, when it is a stratified sample with known population shares
    (``{stratum: source, population_shares: {report: 0.02, random: 0.98}}``): rates are then
    estimated for the population by design weights (estimates with bootstrap intervals, not
    guarantees). Use either this or ``prevalence``."""
    routing: RoutingTargets | None = None
    """Targets for ``evalharness route`` on this config's runs (flags override them)."""

    _source: YamlDocument | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("use letters, digits, _ . and - only")
        return name

    def decider_names(self, decider: BaseModel) -> list[str]:
        """Result names of one ``deciders:`` entry (one per prompt variant of an llm decider)."""
        variants = getattr(decider, "prompt_variants", ["default"])
        name = decider.name  # type: ignore[attr-defined]
        return [name] if len(variants) == 1 else [f"{name}@{v}" for v in variants]

    @model_validator(mode="after")
    def _unique_names(self) -> RunConfig:
        names = [n for d in self.deciders for n in self.decider_names(d)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"decider names must be unique; repeated: {dupes}")
        if len(set(self.policies)) != len(self.policies):
            raise ValueError("policies: each policy may be listed once")
        unknown = sorted(set(self.prevalence) - set(self.policies))
        if unknown:
            raise ValueError(f"prevalence: no policy {unknown} in this config's policies "
                             f"{self.policies}")
        if self.sampling is not None and self.prevalence:
            raise ValueError("give either prevalence: (reweight the gold classes) or sampling: "
                             "(design weights of a stratified sample), not both")
        if self.routing is not None and self.routing.prevalence:
            raise ValueError("routing.prevalence: state the prevalence once, at the top level "
                             "of the config (`prevalence:`), where the report uses it too")
        return self

    @property
    def path(self) -> Path:
        assert self._source is not None, "config was not loaded from a file"
        return self._source.path

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self._source else Path.cwd()

    def resolve(self, relative: str) -> Path:
        """A path from this config, relative to the config file's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def line_of(self, *loc: Any) -> int | None:
        return self._source.line_of(loc) if self._source else None

    def problem(self, message: str, *loc: Any, fix: str | None = None) -> ConfigError:
        """A :class:`ConfigError` pointing at ``loc`` in this config file."""
        return ConfigError(
            message,
            file=str(self.path) if self._source else None,
            line=self.line_of(*loc),
            field=".".join(str(p) for p in loc) or None,
            fix=fix,
        )

    def find_policies_dir(self) -> Path:
        if self.policies_dir:
            return self.resolve(self.policies_dir)
        for folder in [self.base_dir.resolve(), *self.base_dir.resolve().parents]:
            if (folder / "policies").is_dir():
                return folder / "policies"
        raise self.problem(
            "no policies/ folder found at or above the config",
            "policies_dir",
            fix="set policies_dir: to the folder holding the policy YAML files",
        )

    def decider_policies(self, decider: BaseModel) -> list[str]:
        chosen = getattr(decider, "policies", None)
        return list(chosen) if chosen else list(self.policies)


def load_config(path: Path | str) -> RunConfig:
    """Load and schema-check a config file (see :func:`evalharness.validate` for data checks)."""
    doc = load_yaml(Path(path), ConfigError)
    config = parse_model(RunConfig, doc, ConfigError)
    assert isinstance(config, RunConfig)
    config._source = doc
    for i, decider in enumerate(config.deciders):
        for policy_id in decider.policies or []:
            if policy_id not in config.policies:
                raise config.problem(
                    f"policy {policy_id!r} is not in the config's policies",
                    "deciders", i, "policies",
                    fix=f"use some of {config.policies}",
                )
    return config


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the config format, for editor completion and the config reference."""
    return RunConfig.model_json_schema()
