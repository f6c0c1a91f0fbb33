"""Rates under a stratified sampling design with known population shares (design weights).

A golden set is often drawn by stratum — e.g. every user report plus a random slice of traffic,
or fixed numbers per classifier-score bucket — from a population whose stratum shares are known.
Each item then stands for ``W_h / (n_h / n)`` population items (``W_h`` the stratum's population
share, ``n_h`` its items in the sample): a rate is the ratio of weighted counts (the combined
ratio estimator, Cochran 1977 §6.11), and its interval comes from a stratified bootstrap that
resamples items within each stratum (so the weights are honoured). Unlike reweighting by gold
class (:mod:`.strata`), no exact test covers a general design, so claims under sampling weights
are estimates, never guarantees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ..records import Interval

__all__ = ["Design", "WeightedRate", "design_weights"]

N_RESAMPLES = 1000
METHOD = "stratified bootstrap at sampling weights"


def design_weights(strata: Sequence[str], shares: Mapping[str, float]) -> NDArray[np.float64]:
    """Per item ``W_h / (n_h / n)``: how many population items each sampled item stands for,
    scaled to a mean of 1. Strata absent from the sample drop out (their share cannot be
    estimated); the remaining shares are renormalised.

    Examples
    --------
    Reports are 2% of traffic but half the sample:

    >>> design_weights(["report", "report", "random", "random"], {"report": 0.02, "random": 0.98})
    array([0.04, 0.04, 1.96, 1.96])
    """
    values = np.asarray(strata, dtype=object)
    n = values.size
    present = {h for h in shares if (values == h).any()}
    total = sum(shares[h] for h in present)
    out = np.zeros(n)
    for h in present:
        mask = values == h
        out[mask] = shares[h] / total / (mask.sum() / n)
    return out


@dataclass(frozen=True)
class Design:
    """The items of one analysis set under a stratified design: each item's stratum, and the
    strata's population shares."""

    strata: NDArray[np.object_]
    shares: Mapping[str, float]
    seed: int = 0

    @classmethod
    def of(cls, strata: Sequence[str], shares: Mapping[str, float], seed: int = 0) -> Design:
        return cls(np.asarray([str(h) for h in strata], dtype=object), dict(shares), seed)

    @cached_property
    def weights(self) -> NDArray[np.float64]:
        return design_weights(list(self.strata), self.shares)

    def take(self, mask: NDArray[np.bool_]) -> Design:
        """The design restricted to a subset of items (weights recomputed within it)."""
        return Design(self.strata[mask], self.shares, self.seed)

    def total(self, mask: NDArray[np.bool_]) -> float:
        return float(self.weights[mask].sum())

    def resampled_totals(self, *masks: NDArray[np.bool_],
                         n_resamples: int = N_RESAMPLES) -> list[NDArray[np.float64]]:
        """Weighted counts of each mask in ``n_resamples`` stratified bootstrap resamples (the
        same resampled items for every mask). Own resampling: ``scipy.stats.bootstrap`` draws
        from the whole sample and has no strata. Strata are drawn in sorted order, so the same
        items give the same resamples in every process."""
        rng = np.random.default_rng(self.seed)
        out = [np.zeros(n_resamples) for _ in masks]
        for h in sorted(set(self.strata)):
            idx = np.flatnonzero(self.strata == h)
            draw = idx[rng.integers(0, idx.size, size=(n_resamples, idx.size))]
            for total, mask in zip(out, masks):
                total += (mask[draw] * self.weights[draw]).sum(axis=1)
        return out


@dataclass(frozen=True)
class WeightedRate:
    """Weighted items in ``num`` over weighted items in ``den`` (``num`` within ``den``)."""

    num: NDArray[np.bool_]
    den: NDArray[np.bool_]
    design: Design
    shape: str = field(default="weighted")

    @property
    def k(self) -> int:
        return int(self.num.sum())

    @property
    def n(self) -> int:
        return int(self.den.sum())

    def value(self, prevalence: object = None) -> float | None:
        bottom = self.design.total(self.den)
        return self.design.total(self.num) / bottom if bottom > 0 else None

    def interval(self, prevalence: object = None, confidence: float = 0.95) -> Interval:
        value = self.value()
        if value is None:
            return Interval(value=None, method=METHOD)
        top, bottom = self.design.resampled_totals(self.num, self.den)
        keep = bottom > 0
        if not keep.any():
            return Interval(value=value, method=METHOD)
        ratios = top[keep] / bottom[keep]
        tail = (1 - confidence) / 2
        low, high = np.quantile(ratios, [tail, 1 - tail])
        return Interval(value=value, low=float(min(low, value)), high=float(max(high, value)),
                        method=METHOD)

    def p_value(self, direction: str, target: float, prevalence: object = None) -> float:
        """No exact test covers a general design: 1.0 (a claim here is never guaranteed)."""
        return 1.0

    def testable(self, prevalence: object = None) -> bool:
        return False
