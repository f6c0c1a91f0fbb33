"""Candidate minus base, per metric, for one decider on one policy: the deltas of
:class:`~evalharness.records.comparison.MetricDelta` with their paired intervals, and for
quality metrics the evidence a non-inferiority gate checks.

* Rates of items (accuracy, coverage, invalid rate, recall) and precision carry Wilson intervals
  per run; kappa and F1 the point only.
* Every delta has a 95% paired percentile-bootstrap interval (items resampled jointly for both
  runs, :mod:`evalharness.stats.bootstrap`); accuracy also McNemar's exact test.
* Every quality metric has a one-sided upper bound of its drop at ``1 - alpha`` — Newcombe's paired
  square-and-add interval for rates of items, the paired bootstrap for precision, F1 and kappa —
  and the smallest drop a one-sided test at ``alpha`` detects with the gate's power.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..records import OUTCOMES_NOT_OK, Interval
from ..records.comparison import MetricDelta
from ..scoring.intervals import or_none, wilson
from ..stats.bootstrap import bootstrap_distribution, percentile_bounds
from ..stats.classification import cohen_kappa
from ..stats.coded import RATE_METRICS, CodedStatistic, point, rate_statistic
from ..stats.paired import PairedCounts, mcnemar_p, newcombe_paired_interval
from ..stats.power import detectable_difference
from .pairs import Pairs

__all__ = ["COST_METRICS", "LOWER_IS_BETTER", "PAIRED_RATES", "cost_deltas", "quality_deltas"]

COST_METRICS = ("cost_per_decision_usd", "latency_p50_s", "latency_p95_s")
LOWER_IS_BETTER = frozenset({"invalid_rate", *COST_METRICS})
PAIRED_RATES = ("accuracy", "coverage", "invalid_rate", "recall")
"""Metrics that are a rate over items (each item in or out), so Newcombe's paired interval
applies; the others (precision, F1, kappa) use the paired bootstrap."""


def _quality_metrics(n_labels: int) -> list[tuple[str, int | None]]:
    return [*((m, None) for m in RATE_METRICS),
            *((m, j) for j in range(n_labels) for m in ("precision", "recall", "f1"))]


def _paired(stat: CodedStatistic) -> Callable[..., NDArray[np.float64]]:
    """Candidate minus base of a statistic over (gold, base, candidate) codes."""
    def difference(t: NDArray[np.intp], pb: NDArray[np.intp], pc: NDArray[np.intp],
                   axis: int = -1) -> NDArray[np.float64]:
        return stat(t, pc, axis=axis) - stat(t, pb, axis=axis)
    return difference


def _run_value(metric: str, j: int | None, t: NDArray[np.intp], p: NDArray[np.intp],
               pairs_gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> Interval:
    """One run's value: Wilson for rates of items and precision, the point for kappa and F1."""
    n = t.size
    if metric == "cohen_kappa":
        return Interval(value=cohen_kappa(pairs_gold, pred, labels=labels))
    if metric == "f1":
        return Interval(value=or_none(point(rate_statistic("f1", j, len(labels)), t, p)) if n else None)
    denominator = {"precision": int(np.count_nonzero(p == j)),
                   "recall": int(np.count_nonzero(t == j))}.get(metric, n)
    hits = {"accuracy": t == p, "coverage": p < len(labels),
            "invalid_rate": p == len(labels) + OUTCOMES_NOT_OK.index("invalid"),
            "precision": (p == j) & (t == j), "recall": (p == j) & (t == j)}[metric]
    return wilson(int(np.count_nonzero(hits)), denominator)


def _outcome(metric: str, j: int | None, t: NDArray[np.intp], p: NDArray[np.intp],
             n_labels: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per item of a rate of items: whether it counts (the denominator), whether it has the
    outcome."""
    every = np.ones(t.size, dtype=bool)
    if metric == "accuracy":
        return every, t == p
    if metric == "coverage":
        return every, p < n_labels
    if metric == "invalid_rate":
        return every, p == n_labels + OUTCOMES_NOT_OK.index("invalid")
    assert metric == "recall" and j is not None
    return t == j, p == j


def _newcombe_drop(metric: str, j: int | None, codes: Sequence[NDArray[np.intp]], n_labels: int,
                   higher: bool, alpha: float, power: float) -> dict[str, Any]:
    gold, pred_b, pred_c = codes
    counted, has_b = _outcome(metric, j, gold, pred_b, n_labels)
    _, has_c = _outcome(metric, j, gold, pred_c, n_labels)
    hb, hc = has_b[counted], has_c[counted]
    counts = PairedCounts(both=int((hb & hc).sum()), candidate_only=int((hc & ~hb).sum()),
                          base_only=int((hb & ~hc).sum()), neither=int((~hb & ~hc).sum()))
    ci = newcombe_paired_interval(counts, 1 - 2 * alpha)
    if ci is None:
        return {"n": 0}
    sd = max(counts.discordance, 1 / counts.n) ** 0.5
    return {"n": counts.n, "drop_bound": (-ci[0] if higher else ci[1]) + 0.0,
            "bound_method": "newcombe-paired",
            "detectable_drop": detectable_difference(counts.n, sd, alpha=alpha, power=power)}


def _bootstrap_drop(bounds: tuple[float, float], n: int, higher: bool, alpha: float,
                    power: float) -> dict[str, Any]:
    low, high = bounds
    if math.isnan(low) or math.isnan(high):  # undefined in every resample
        return {"n": n}
    z = float(NormalDist().inv_cdf(1 - alpha))
    sd = (high - low) / (2 * z) * n ** 0.5  # no spread (nothing changed): nothing to size from
    return {"n": n, "drop_bound": (-low if higher else high) + 0.0,
            "bound_method": "paired-bootstrap",
            "detectable_drop": detectable_difference(n, sd, alpha=alpha, power=power) if sd > 0 else None}


def _significant(diff: Interval) -> bool | None:
    if diff.value is None or diff.low is None or diff.high is None:
        return None
    return diff.low > 0 or diff.high < 0


def _relative(base: float | None, diff: float | None) -> float | None:
    if base is None or diff is None or base == 0:
        return None
    return diff / abs(base)


def _distribution(stat: Callable[..., NDArray[np.float64]], arrays: Sequence[NDArray[Any]],
                  n_resamples: int, seed: int) -> NDArray[np.float64] | None:
    if arrays[0].size == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bootstrap_distribution(stat, *arrays, n_resamples=n_resamples, seed=seed)


def _bounds(dist: NDArray[np.float64] | None, confidence: float) -> tuple[float, float]:
    if dist is None:
        return (math.nan, math.nan)
    low, high = percentile_bounds(dist, confidence)
    return float(low), float(high)


def _diff(value: float | None, dist: NDArray[np.float64] | None, confidence: float) -> Interval:
    if value is None or dist is None:
        return Interval(value=value, method="paired-bootstrap")
    low, high = _bounds(dist, confidence)
    return Interval(value=value, low=or_none(low), high=or_none(high), method="paired-bootstrap")


def quality_deltas(pairs: Pairs, labels: Sequence[str], *, alpha: float, confidence: float,
                   n_resamples: int, seed: int, power: float) -> list[MetricDelta]:
    """Accuracy, kappa, coverage, invalid rate, and per label precision, recall and F1."""
    n_labels = len(labels)
    gold, pred_b, pred_c = pairs.codes
    out = []
    for metric, j in _quality_metrics(n_labels):
        label = None if j is None else labels[j]
        b = _run_value(metric, j, gold, pred_b, pairs.gold, pairs.pred_b, labels)
        c = _run_value(metric, j, gold, pred_c, pairs.gold, pairs.pred_c, labels)
        value = None if b.value is None or c.value is None else c.value - b.value
        higher = metric not in LOWER_IS_BETTER
        dist = _distribution(_paired(rate_statistic(metric, j, n_labels)), pairs.codes,
                             n_resamples, seed)
        diff = _diff(value, dist, confidence)
        if metric in PAIRED_RATES:
            evidence = _newcombe_drop(metric, j, pairs.codes, n_labels, higher, alpha, power)
        elif value is None or dist is None:
            evidence = {"n": int(gold.size)}
        else:
            evidence = _bootstrap_drop(_bounds(dist, 1 - 2 * alpha), int(gold.size), higher,
                                       alpha, power)
        delta = MetricDelta(metric=metric, label=label, base=b, candidate=c, diff=diff,
                            relative=_relative(b.value, value), higher_is_better=higher, **evidence)
        if metric == "accuracy":
            right_b, right_c = gold == pred_b, gold == pred_c
            delta.p_value = mcnemar_p(int(np.sum(right_b & ~right_c)), int(np.sum(~right_b & right_c)))
            delta.significant = delta.p_value < alpha
        else:
            delta.significant = _significant(diff)
        out.append(delta)
    return out


def _cost_statistics() -> dict[str, Callable[..., NDArray[np.float64]]]:
    """Per-run statistic of costs or latencies over the last axis (latency nan: not measured)."""
    def percentile(q: float) -> Callable[..., NDArray[np.float64]]:
        return lambda x, axis=-1: np.nanpercentile(x, q, axis=axis)
    return {"cost_per_decision_usd": lambda x, axis=-1: np.mean(x, axis=axis),
            "latency_p50_s": percentile(50), "latency_p95_s": percentile(95)}


def cost_deltas(pairs: Pairs, *, confidence: float, n_resamples: int, seed: int) -> list[MetricDelta]:
    """Cost per decision and latency p50/p95 (point estimates per run) over every paired item."""
    out = []
    for metric, stat in _cost_statistics().items():
        xb, xc = (pairs.lat_b, pairs.lat_c) if metric.startswith("latency") else (pairs.cost_b, pairs.cost_c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no latency measured: nan
            vb = or_none(float(stat(xb[None, :])[0])) if xb.size else None
            vc = or_none(float(stat(xc[None, :])[0])) if xc.size else None
        value = None if vb is None or vc is None else vc - vb
        dist = _distribution(lambda b, c, axis=-1, _s=stat: _s(c, axis=axis) - _s(b, axis=axis),
                             (xb, xc), n_resamples, seed)
        diff = _diff(value, dist, confidence)
        out.append(MetricDelta(metric=metric, base=Interval(value=vb), candidate=Interval(value=vc),
                               diff=diff, relative=_relative(vb, value),
                               significant=_significant(diff), higher_is_better=False))
    return out
