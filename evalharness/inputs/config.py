"""Eval configs: what to run, validated by pydantic with ``extra="forbid"``.

The options of each decider kind are that kind's own model (:class:`DeciderOptions`, in its
module under :mod:`evalharness.deciders` or in a plugin); here a decider is a :class:`DeciderSpec`.

Relative paths in a config are resolved against the config file's folder. Policies are named by id
and looked up in ``policies_dir`` (default: the nearest ``policies/`` folder at or above the config).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from ..records.base import Strict
from ..records.errors import ConfigError, EvalHarnessError, Problem
from ..records.targets import Prevalences, RoutingTargets, SamplingDesign
from .policies import Prompt
from .yamlfile import YamlDocument, load_yaml, parse_model, validation_problems

Scalar = Union[str, int, float, bool]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_MAX_ITEM_CHARS = 100_000
"""Default of ``golden_set.max_item_chars``: the longest item text accepted."""


class SampleSpec(Strict):
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


class GoldenSetSpec(Strict):
    """Where the items come from and which of them to use."""

    path: str
    """JSONL (optionally .gz), CSV or Parquet file, or a local Hugging Face dataset folder."""
    format: Literal["auto", "jsonl", "csv", "parquet", "hf"] = "auto"
    filter: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    """Keep items whose field equals the value (or one of the listed values). Fields: ``id``,
    ``meta.<key>``, ``labels.<policy>``."""
    sample: SampleSpec | None = None
    max_item_chars: int | None = Field(default=DEFAULT_MAX_ITEM_CHARS, ge=1)
    """Longest item text accepted, in characters (default 100,000); a longer item stops the run
    naming its file, line and id. ``null`` turns the limit off."""

    @field_validator("filter")
    @classmethod
    def _filter_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key != "id" and not key.startswith(("meta.", "labels.")):
                raise ValueError(f"filter field {key!r}: use id, meta.<key> or labels.<policy>")
        return value


class DeciderSpec(Strict):
    """One entry of ``deciders:``. Its ``kind`` names a registered decider kind (built in, or
    added by a plugin package); that kind's own options model checks the other keys
    (:func:`evalharness.execution.workplan.load_config`)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    name: str
    """Name in results; letters, digits, ``_ . -``."""
    policies: list[str] | None = None
    """Limit this decider to these policy ids (default: all the config's policies)."""
    kind: str
    """Which decider: a built-in kind (``evalharness schema`` lists them) or a plugin's."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("use letters, digits, _ . and - (no /, spaces or other signs)")
        return name


class DeciderOptions(DeciderSpec):
    """Base of a decider kind's options model: ``kind: Literal["<kind>"]`` plus its own keys;
    an unknown key is an error naming its line."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def default_cache_dir() -> Path:
    """``$EVALHARNESS_CACHE_DIR``, else ``$EVALHARNESS_HOME/cache``, else ``~/.cache/evalharness``."""
    if os.environ.get("EVALHARNESS_CACHE_DIR"):
        return Path(os.environ["EVALHARNESS_CACHE_DIR"])
    if os.environ.get("EVALHARNESS_HOME"):
        return Path(os.environ["EVALHARNESS_HOME"]) / "cache"
    return Path.home() / ".cache" / "evalharness"


class CacheSpec(Strict):
    """The response cache shared across runs (SQLite)."""

    enabled: bool = True
    """Read and write the cache."""
    dir: str | None = None
    """Folder of the cache database (default: ``$EVALHARNESS_CACHE_DIR``, else
    ``$EVALHARNESS_HOME/cache``, else ``~/.cache/evalharness``)."""
    epoch: int = 0
    """Bump to ignore earlier cached answers without deleting them (e.g. the provider changed the
    model behind the same name)."""


class BundleSpec(Strict):
    """Policies asked in one call per item (``bundles:``)."""

    policies: list[str]
    user: str | None = None
    """The item message of the bundle's call, with the placeholders of ``prompt.user``
    (``{text}``, ``{fields.<name>}``, ``{meta.<key>}``, ``{context}``), e.g. to show a listing's
    fields; default: the ``prompt.user`` the bundle's policies share."""

    @model_validator(mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        """A plain list is the policies."""
        return {"policies": value} if isinstance(value, list) else value

    @field_validator("user")
    @classmethod
    def _template(cls, user: str | None) -> str | None:
        if user is not None:
            Prompt(system="", user=user)  # the placeholder rules of prompt.user
        return user


class RunConfig(Strict):
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
    deciders: list[SerializeAsAny[DeciderSpec]] = Field(min_length=1)
    """Who decides: ``kind`` llm, classic, embedding, sklearn, onnx, python, http, precomputed,
    ensemble, human or a plugin's; each is graded against QA gold."""
    slice_by: list[str] = Field(default_factory=list)
    """Item ``meta`` keys to break every metric down by (list values count in each slice)."""
    bundles: dict[str, BundleSpec] = Field(default_factory=dict)
    """Policy bundles: a name and the policies (at least two, of this config's) that an llm
    decider with ``bundle: <name>`` asks in one structured-output call per item, e.g.
    ``marketplace_core: [hate_speech, harassment_abuse, sexual, violence, self_harm, spam_scam]``,
    or ``{policies: [...], user: <item message>}``."""
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

    def check_decider_names(self) -> None:
        """Result names must be unique across the deciders (once their options are checked)."""
        names = [n for d in self.deciders for n in self.decider_names(d)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise self.problem(f"decider names must be unique; repeated: {dupes}", "deciders",
                               fix="rename one of them")

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if len(set(self.policies)) != len(self.policies):
            raise ValueError("policies: each policy may be listed once")
        unknown = sorted(set(self.prevalence) - set(self.policies))
        if unknown:
            raise ValueError(f"prevalence: no policy {unknown} in this config's policies "
                             f"{self.policies}")
        if self.sampling is not None and self.prevalence:
            raise ValueError("give either prevalence: (reweight the gold classes) or sampling: "
                             "(design weights of a stratified sample), not both")
        for name, spec in self.bundles.items():
            ids = spec.policies
            if not _NAME.match(name):
                raise ValueError(f"bundles: {name!r}: use letters, digits, _ . and - only")
            if len(ids) < 2 or len(set(ids)) != len(ids):
                raise ValueError(f"bundles.{name}: list at least two different policies")
            outside = [pid for pid in ids if pid not in self.policies]
            if outside:
                raise ValueError(f"bundles.{name}: {outside} not in this config's policies "
                                 f"{self.policies}")
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

    def locate(self, exc: EvalHarnessError) -> EvalHarnessError:
        """``exc`` with this config's file and line filled in for problems about a decider
        (field ``deciders.<name>[.key]``) that name no file."""
        if self._source is None:
            return exc
        names = {d.name: i for i, d in enumerate(self.deciders)}  # type: ignore[attr-defined]
        problems = []
        for p in exc.problems:
            head, _, rest = (p.field or "").partition(".")
            name, _, key = rest.partition(".")
            base = name.split("@")[0]
            if p.file is None and head == "deciders" and base in names:
                loc = ("deciders", names[base], *key.split(".")) if key else ("deciders", names[base])
                p = replace(p, file=str(self.path), line=self.line_of(*loc))
            problems.append(p)
        exc.problems = problems
        return exc

    def validation_problems(self, exc: ValidationError, *prefix: Any) -> list[Problem]:
        """One problem per field of a pydantic error in the block at ``prefix`` of this
        config, each with its line."""
        if self._source is not None:
            return validation_problems(exc, self._source, prefix=prefix)
        return [Problem(e["msg"], field=".".join(str(p) for p in (*prefix, *e["loc"])))
                for e in exc.errors()]

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
        """The policies a ``deciders:`` entry decides: its bundle's, its ``policies:``, or all."""
        bundle = getattr(decider, "bundle", None)
        if bundle in self.bundles:
            return list(self.bundles[bundle].policies)
        chosen = getattr(decider, "policies", None)
        return list(chosen) if chosen else list(self.policies)


def read_config(path: Path | str) -> RunConfig:
    """Read and schema-check a config file; each ``deciders:`` entry is checked against its
    kind's options later, by :func:`evalharness.execution.workplan.load_config`."""
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


