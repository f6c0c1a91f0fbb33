"""Routing targets: the quality, cost and QA settings a tier-routing plan is built against.

``RoutingTargets`` is the optional ``routing:`` block of a run config, the file given to
``evalharness route --targets FILE``, and the keyword arguments of ``recommend_tiers``. Unknown keys
are errors (``extra="forbid"``).

Where each target applies (every one is a claim, checked on validation items at the production
prevalence when one is stated):

* ``precision_target``: every automated auto-action step and the plan end to end.
* ``auto_clear_max_violating``: every automated auto-clear step (the violating share among the
  items it clears).
* ``recall_target``: the plan end to end; with it, each auto-clear step may also lose at most
  ``1 - recall_target`` of the violating items it sees.

``prevalence`` (also a top-level key of run configs, so reports use it too) states the share of
violating items production sees, per policy and optionally per slice; every rate, volume, cost and
QA size of a plan is then estimated at that prevalence.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, PrivateAttr, model_validator

from .base import Strict


def _rate_or_off(value: Any) -> Any:
    if value is None or value == "off":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"use a share strictly between 0 and 1, or `off`; got {value!r}")
    return float(value)


RateOrOff = Annotated[Union[float, Literal["off"], None], BeforeValidator(_rate_or_off)]
"""A share strictly between 0 and 1, ``off``, or null (inherit)."""


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"a prevalence is a share strictly between 0 and 1; got {value!r}")
    return float(value)


Share = Annotated[float, BeforeValidator(_share)]


def _population_share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"a population share is above 0 and at most 1; got {value!r}")
    return float(value)


PopulationShare = Annotated[float, BeforeValidator(_population_share)]


class PolicyPrevalence(Strict):
    """Production prevalence of one policy: overall, and where slices differ, per slice value."""

    overall: Share
    """Share of production items that violate the policy (e.g. 0.01)."""
    slices: dict[str, dict[str, Share]] = Field(default_factory=dict)
    """Per ``slice_by`` key and value, the share within that slice (e.g. ``market: {BR: 0.03}``);
    a slice not listed is taken to have the overall prevalence."""

    def for_slice(self, key: str, value: str) -> float:
        return self.slices.get(key, {}).get(value, self.overall)


class SamplingDesign(Strict):
    """How the golden set was drawn: a stratified sample of a population whose stratum shares are
    known (e.g. every user report plus a random slice of traffic). Each item is weighted by
    ``share / (its stratum's items / all items)``, so rates are estimated for the population."""

    stratum: str
    """The item ``meta`` key that holds each item's stratum, e.g. ``source``."""
    population_shares: dict[str, PopulationShare]
    """Share of the population in each stratum value; they sum to 1."""

    @model_validator(mode="after")
    def _sums_to_one(self) -> SamplingDesign:
        total = sum(self.population_shares.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"population_shares must sum to 1, they sum to {total:g}")
        return self


def _prevalence_entry(value: Any) -> Any:
    return {"overall": value} if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else value


PrevalenceEntry = Annotated[PolicyPrevalence, BeforeValidator(_prevalence_entry)]
Prevalences = dict[str, PrevalenceEntry]
"""Per policy id: a share (``hate_speech: 0.01``) or ``{overall: ..., slices: {...}}``."""


class LabelTargets(Strict):
    """End-to-end targets for one label of a policy."""

    precision: float | None = Field(default=None, gt=0, lt=1)
    """Minimum share of items the plan gives this label whose QA gold is this label."""
    recall: float | None = Field(default=None, gt=0, lt=1)
    """Minimum share of items with this QA gold label that the plan gives this label."""


class PolicyTargets(Strict):
    """Per-policy overrides: a value replaces the top-level one, ``off`` turns that target off,
    and null (or leaving the key out) keeps the top-level value."""

    precision_target: RateOrOff = None
    """Minimum precision of violating calls, per automated step and end to end."""
    recall_target: RateOrOff = None
    """Minimum share of violating items the plan catches end to end."""
    auto_clear_max_violating: RateOrOff = None
    """False-negative ceiling: most violating items allowed among auto-cleared items (a share)."""
    labels: dict[str, LabelTargets] = Field(default_factory=dict)
    """End-to-end targets per label of this policy (added to the top-level ``labels``)."""
    actions: dict[str, LabelTargets] = Field(default_factory=dict)
    """End-to-end targets per enforcement action of this policy's severities (added to the
    top-level ``actions``)."""
    cost_of_false_negative: float | None = Field(default=None, ge=0)
    """Replaces the top-level cost of a missed violating item, for this policy."""
    cost_of_false_positive: float | None = Field(default=None, ge=0)
    """Replaces the top-level cost of a wrongly actioned item, for this policy."""


class SliceTargets(Strict):
    """Targets for one slice (a value of a ``slice_by`` meta key), or for every value of a key."""

    key: str
    """A ``slice_by`` meta key of the run, e.g. ``target``, ``market`` or ``language``."""
    value: str | None = None
    """One value of the key; left out, the targets apply to every value of the key."""
    policy: str | None = None
    """Only this policy (default: every policy of the run)."""
    precision_target: float | None = Field(default=None, gt=0, lt=1)
    """Minimum end-to-end precision of violating calls within the slice."""
    recall_target: float | None = Field(default=None, gt=0, lt=1)
    """Minimum end-to-end recall of violating items within the slice."""


class CostOverrides(Strict):
    """Prices that replace the ones recorded in the run (e.g. production prices)."""

    decider_cost_usd: dict[str, float] = Field(default_factory=dict)
    """Cost of one decision per decider name, e.g. a hosted LLM's price per call."""
    hourly_cost_usd: dict[str, float] = Field(default_factory=dict)
    """Loaded hourly cost of human review per site, or per human decider name for all its sites."""

    @model_validator(mode="after")
    def _non_negative(self) -> CostOverrides:
        for name, table in (("decider_cost_usd", self.decider_cost_usd),
                            ("hourly_cost_usd", self.hourly_cost_usd)):
            bad = [k for k, v in table.items() if v < 0]
            if bad:
                raise ValueError(f"{name}: costs must be >= 0, got negative values for {bad}")
        return self


class RoutingTargets(Strict):
    """What a routing plan must reach, and the settings used to find and check it."""

    precision_target: float | None = Field(default=0.9, gt=0, lt=1)
    """Minimum precision of violating calls: every auto-action step and the plan end to end."""
    recall_target: float | None = Field(default=0.8, gt=0, lt=1)
    """Minimum share of violating items the plan catches end to end."""
    auto_clear_max_violating: float | None = Field(default=0.05, gt=0, lt=1)
    """False-negative ceiling for auto-clearing: most violating items allowed among cleared items."""
    labels: dict[str, LabelTargets] = Field(default_factory=dict)
    """End-to-end precision/recall targets per label name, for every policy that has the label."""
    actions: dict[str, LabelTargets] = Field(default_factory=dict)
    """End-to-end targets per enforcement action (``severity.actions`` of a policy), e.g.
    ``{ban: {precision: 0.98}, limit: {precision: 0.9}}``, for every policy with that action.
    Each applies to every label calling for the action (a label's precision and recall at the
    target guarantee the action's, pooled over its labels)."""
    cost_of_false_negative: float = Field(default=0.0, ge=0)
    """USD an uncaught violating item costs (harm, escalations); with
    ``cost_of_false_positive``, the search ranks plans by decision cost plus expected error cost
    per item."""
    cost_of_false_positive: float = Field(default=0.0, ge=0)
    """USD a wrongly actioned item costs (appeals, churn)."""
    policies: dict[str, PolicyTargets] = Field(default_factory=dict)
    """Per-policy overrides of the targets above, by policy id."""
    slices: list[SliceTargets] = Field(default_factory=list)
    """Targets that must also hold within slices (checked on validation items of the slice)."""
    min_slice_items: int = Field(default=20, ge=1)
    """Fewest validation items a slice (or a step's share of it) needs before it is judged."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence of every bound, guarantee and QA sample size (one-sided for bounds)."""
    daily_volume: int = Field(default=10_000, ge=1)
    """Items per day per policy, for cost per day, human hours and the QA request."""
    calibration_share: float = Field(default=0.5, gt=0, lt=1)
    """Share of items (seeded by item id) used to choose thresholds; the rest validate them."""
    seed: int = 0
    """Seed of the calibration/validation split."""
    deciders: list[str] | None = None
    """Only these deciders may be tiers (default: every decider of the run but per-rater rows)."""
    max_automated_tiers: int = Field(default=2, ge=0, le=4)
    """Most automated tiers (with thresholds) before the last tier in a cascade."""
    grid_points: int = Field(default=6, ge=1, le=50)
    """Thresholds tried per auto-action and per auto-clear step when searching cascades."""
    costs: CostOverrides = Field(default_factory=CostOverrides)
    """Prices replacing those recorded in the run."""
    prevalence: Prevalences = Field(default_factory=dict)
    """Production prevalence per policy id (replaces the run config's ``prevalence:`` for the
    policies it names). Without one, every number is at the golden set's own prevalence."""
    validation_plans: int = Field(default=2, ge=1, le=5)
    """Plans chosen on calibration items that are checked on validation items, cheapest first;
    the first whose every claim holds is recommended. Each check (and the first-tier thresholds)
    gets an equal share of the error rate (Bonferroni), so more plans cost power."""
    selection_power: float = Field(default=0.8, gt=0, lt=1)
    """Chance that a threshold chosen on calibration items holds on validation items if it performs
    there as on calibration (sets the safety margin used when choosing thresholds)."""
    qa_power: float = Field(default=0.8, gt=0, lt=1)
    """Chance a QA sample confirms a target when the plan performs as estimated."""
    qa_margin: float = Field(default=0.05, gt=0, lt=0.5)
    """Half-width of the interval QA's weekly accuracy estimate should have."""

    _source: str | None = PrivateAttr(default=None)
    """The file the targets were read from, for error messages."""
