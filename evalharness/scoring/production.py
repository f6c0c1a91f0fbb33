"""Rates at production prevalence: a decider's golden-set decisions re-weighted to the share of
violating items production sees (see :mod:`evalharness.stats.strata` for the method).

Recall of a label is the same at any prevalence (it lives within one gold stratum); precision,
accuracy and the share of traffic called violating are not. The functions here work on integer
codes (``0..L-1`` the policy labels, ``L + j`` the non-ok outcomes) so routing and the reports
share them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pydantic import TypeAdapter, ValidationError

from ..records.errors import ConfigError, block_problems
from ..records import Interval, Manifest, ProductionRates
from ..stats.coded import encode
from ..stats.sampling import Design, WeightedRate
from ..stats.strata import OTHER, VIOLATING, Prevalence, StratifiedRate, weighted_share
from ..records.targets import PolicyPrevalence, Prevalences, SamplingDesign

__all__ = ["label_precision", "label_recall", "production_rates", "run_prevalence",
           "run_sampling", "violating_precision"]

Rate = StratifiedRate | WeightedRate


def run_sampling(manifest: Manifest) -> SamplingDesign | None:
    """The sampling design a run's config states, if any."""
    block = manifest.config.get("sampling")
    if not block:
        return None
    try:
        return SamplingDesign.model_validate(block)
    except ValidationError as exc:
        raise ConfigError(problems=block_problems(exc, file=manifest.config_path, block="sampling",
                                                  fix="fix the sampling: block of the config")) from None


def run_prevalence(manifest: Manifest) -> dict[str, PolicyPrevalence]:
    """The production prevalence a run's config states, per policy (empty when none)."""
    try:
        return TypeAdapter(Prevalences).validate_python(manifest.config.get("prevalence") or {})
    except ValidationError as exc:
        raise ConfigError(problems=block_problems(exc, file=manifest.config_path, block="prevalence",
                                                  fix="fix the prevalence: block of the config")) from None


def _strata(gold: NDArray[np.intp], violating: Sequence[int]) -> NDArray[np.bool_]:
    return np.isin(gold, list(violating))


def _sizes(viol: NDArray[np.bool_]) -> tuple[int, int]:
    v = int(viol.sum())
    return v, int(viol.size - v)


def _split(mask: NDArray[np.bool_], viol: NDArray[np.bool_]) -> tuple[int, int]:
    return int((mask & viol).sum()), int((mask & ~viol).sum())


def violating_precision(gold: NDArray[np.intp], pred: NDArray[np.intp],
                        violating: Sequence[int]) -> StratifiedRate:
    """Precision of violating calls: items called any violating label whose gold is violating."""
    viol = _strata(gold, violating)
    called = np.isin(pred, list(violating))
    (v, o), (n_v, n_o) = _split(called, viol), _sizes(viol)
    return StratifiedRate.across(v, n_v, o, n_o, stratum_a=VIOLATING)


def label_precision(gold: NDArray[np.intp], pred: NDArray[np.intp], label: int, n_labels: int,
                    violating: Sequence[int], design: Design | None = None) -> Rate:
    """Precision of one label. When the label is alone in its gold stratum (every binary
    policy), every item of that stratum called the label is a hit, so the rate is ``across``
    strata and exactly testable at any prevalence; otherwise it is ``pooled`` (a point estimate
    at production prevalence). Under a sampling design, a weighted rate."""
    viol = _strata(gold, violating)
    called = pred == label
    if design is not None:
        return WeightedRate(called & (gold == label), called, design)
    in_violating = label in violating
    alone = (len(violating) == 1) if in_violating else (n_labels - len(violating) == 1)
    if alone:
        (v, o), (n_v, n_o) = _split(called, viol), _sizes(viol)
        if in_violating:
            return StratifiedRate.across(v, n_v, o, n_o, stratum_a=VIOLATING)
        return StratifiedRate.across(o, n_o, v, n_v, stratum_a=OTHER)
    hit = called & (gold == label)
    return StratifiedRate.pooled(_split(hit, viol), _split(called, viol), _sizes(viol))


def label_recall(gold: NDArray[np.intp], pred: NDArray[np.intp], label: int,
                 violating: Sequence[int], design: Design | None = None) -> Rate:
    """Recall of one label: within its gold stratum, so the same at any prevalence (but not
    under a sampling design, which weights items within a gold class too)."""
    mine = gold == label
    if design is not None:
        return WeightedRate(mine & (pred == label), mine, design)
    return StratifiedRate.within(int((mine & (pred == label)).sum()), int(mine.sum()),
                                 stratum=VIOLATING if label in violating else OTHER)


def production_rates(gold: NDArray[np.intp], pred: NDArray[np.intp], labels: Sequence[str],
                     violating: Sequence[str], prevalence: float | None = None, *,
                     sampling: SamplingDesign | None = None,
                     strata: Sequence[object] | None = None,
                     confidence: float = 0.95) -> ProductionRates:
    """One decider's precision, recall, accuracy and share called violating at ``prevalence``
    (or for the population of a ``sampling`` design), with intervals that account for the
    weights.

    ``gold`` and ``pred`` are the integer codes of graded decisions
    (:func:`~evalharness.stats.coded.encode`); a non-ok outcome is a miss, never a call. Under
    ``sampling``, ``strata`` holds each item's value of the design's stratum field.

    Examples
    --------
    A classifier that catches 90% of violating items and flags 5% of the others looks precise on
    a golden set with 30% violating items (0.89) and is not at 1% prevalence (0.15):

    >>> labels = ["hate", "none"]
    >>> gold = encode(["hate"] * 300 + ["none"] * 700, labels)
    >>> pred = encode(["hate"] * 270 + ["none"] * 30 + ["hate"] * 35 + ["none"] * 665, labels)
    >>> rates = production_rates(gold, pred, labels, ["hate"], 0.01)
    >>> round(rates.violating_precision.value, 3)
    0.154
    """
    viol_codes = encode(list(violating), labels).tolist()
    viol = _strata(gold, viol_codes)
    called = np.isin(pred, viol_codes)
    if sampling is not None:
        assert strata is not None
        return _sampled_rates(strata, gold, pred, labels, viol_codes, sampling, confidence)
    assert prevalence is not None
    w = Prevalence(prevalence)
    caught = StratifiedRate.within(int((called & viol).sum()), int(viol.sum()))
    return ProductionRates(
        prevalence=prevalence,
        violating_precision=violating_precision(gold, pred, viol_codes).interval(w, confidence),
        violating_recall=caught.interval(w, confidence),
        precision={lab: label_precision(gold, pred, i, len(labels), viol_codes).interval(w, confidence)
                   for i, lab in enumerate(labels)},
        recall={lab: label_recall(gold, pred, i, viol_codes).interval(w, confidence)
                for i, lab in enumerate(labels)},
        accuracy=_share(gold == pred, viol, w, confidence),
        violating_called=_share(called, viol, w, confidence),
    )


def _sampled_rates(strata: Sequence[object], gold: NDArray[np.intp], pred: NDArray[np.intp],
                   labels: Sequence[str], viol_codes: list[int], sampling: SamplingDesign,
                   confidence: float) -> ProductionRates:
    design = Design.of(strata, sampling.population_shares)  # type: ignore[arg-type]
    viol = _strata(gold, viol_codes)
    called = np.isin(pred, viol_codes)
    every = np.ones(gold.size, dtype=bool)

    def rate(num: NDArray[np.bool_], den: NDArray[np.bool_]) -> Interval:
        return WeightedRate(num, den, design).interval(None, confidence)

    return ProductionRates(
        basis="sampling",
        prevalence=WeightedRate(viol, every, design).value() or 0.0,
        violating_precision=rate(called & viol, called),
        violating_recall=rate(called & viol, viol),
        precision={lab: rate((pred == i) & (gold == i), pred == i) for i, lab in enumerate(labels)},
        recall={lab: rate((pred == i) & (gold == i), gold == i) for i, lab in enumerate(labels)},
        accuracy=rate(pred == gold, every),
        violating_called=rate(called, every),
    )


def _share(mask: NDArray[np.bool_], viol: NDArray[np.bool_], w: Prevalence,
           confidence: float) -> Interval:
    return weighted_share(_split(mask, viol), _sizes(viol), w, confidence)
