"""One ``metrics.json`` row: all metrics of one decider on one policy (and slice) from its
decisions alone.

Decisions whose gold is unknown (a leave-one-out tie) are counted in ``n_no_gold`` and left out of
the quality metrics, but their cost is counted. Non-ok outcomes stay in: they are the
``invalid``, ``refusal`` and ``error`` columns of the confusion matrix and count as wrong. They
carry no score, so ranking and calibration (:func:`score_quality`) cover the ``ok`` decisions
only and say how many were left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..records import OUTCOMES_NOT_OK, Decision, Interval, MetricRow, ReliabilityBin, ScoreQuality, SliceKey
from ..records.targets import SamplingDesign
from ..stats.bootstrap import percentile_bounds
from ..stats.classification import coded_confusion_matrix, coded_kappa
from ..stats.poisson import ItemWeights, weighted_counts
from ..stats.ranking import (
    average_precision,
    expected_calibration_error,
    reliability_bins,
    roc_auc,
    score_bounds,
    score_codes,
    score_width,
)
from .intervals import from_bounds, wilson
from .columns import RowArrays, labels_seen, p_violating, prediction
from .production import production_rates

__all__ = ["Production", "RowArrays", "metric_row", "metric_row_of", "p_violating", "prediction",
           "score_quality"]

N_BINS = 10
"""Bins of the reliability table and the calibration error."""

Production = tuple[Sequence[str], float | None, SamplingDesign | None]
"""What a row's production rates are estimated with: the violating labels, and a prevalence or a
sampling design."""


def score_quality(
    graded: Sequence[Decision], violating: Sequence[str], *, seed: int = 0,
    weights: ItemWeights | None = None,
) -> ScoreQuality:
    """ROC AUC, average precision, ECE and reliability bins of P(violating) vs gold violating.

    ``graded`` are decisions with a gold label (of one decider and policy). Those without a
    score (non-ok outcomes) are left out and counted in ``n_unscored``. Intervals are Poisson
    bootstraps over items (the resamples of ``weights``, else of the items' ids with ``seed``;
    resamples with one class only dropped; see :func:`evalharness.stats.ranking.score_bootstrap`).
    """
    labels = labels_seen(graded, violating)
    weights = weights or ItemWeights([d.item_id for d in graded], seed=seed)
    return _score_quality(RowArrays.of(graded, labels, weights, violating), violating, weights)


def _score_quality(a: RowArrays, violating: Sequence[str], weights: ItemWeights,
                   sums: np.ndarray | None = None) -> ScoreQuality:
    """Score quality of ``a``'s graded decisions; ``sums``: their score histograms per resample
    when :func:`_resample_sums` has them already."""
    graded = a.graded
    scored = graded & np.isfinite(a.p)
    y, s = _classes(a, violating)[scored], a.p[scored]
    if not scored.any():
        auc = ap = ece = Interval(value=None, method="bootstrap")
        bins: list[ReliabilityBin] = []
    else:
        if sums is None:
            sums = _resample_sums(a, weights, violating)[1]
        bounds = score_bounds(sums, score_codes(y, s, N_BINS)[0], N_BINS)
        auc = from_bounds(roc_auc(y, s), bounds["roc_auc"], "bootstrap")
        ap = from_bounds(average_precision(y, s), bounds["average_precision"], "bootstrap")
        ece = from_bounds(expected_calibration_error(y, s, n_bins=N_BINS), bounds["ece"],
                          "bootstrap")
        bins = [ReliabilityBin(**b) for b in reliability_bins(y, s, n_bins=N_BINS)]
    return ScoreQuality(
        violating=list(violating),
        n_scored=int(scored.sum()),
        n_unscored=int(graded.sum() - scored.sum()),
        n_positive=int(y.sum()),
        roc_auc=auc,
        average_precision=ap,
        ece=ece,
        reliability=bins,
    )


def _classes(a: RowArrays, violating: Sequence[str]) -> np.ndarray:
    """Gold is a violating label, per decision."""
    return np.isin(a.gold, [a.labels.index(v) for v in violating if v in a.labels])


def _latency(latencies: np.ndarray, q: float) -> float | None:
    return float(np.percentile(latencies, q)) if latencies.size else None


def _resample_sums(a: RowArrays, weights: ItemWeights, violating: Sequence[str] | None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per Poisson resample, the graded decisions' confusion cells and (with ``violating``) the
    scored ones' score histograms (:func:`~evalharness.stats.ranking.score_codes`), both from
    one pass over the items' weights."""
    graded = a.graded
    n_codes = a.n_labels + len(OUTCOMES_NOT_OK)
    cells = a.n_labels * n_codes
    codes = (a.gold[graded] * n_codes + a.pred[graded])[:, None]
    values = np.ones(codes.shape)
    width = 0
    if violating:
        width = score_width(N_BINS)
        scored = np.isfinite(a.p[graded])
        score, score_values = score_codes(_classes(a, violating)[graded][scored],
                                          a.p[graded][scored], N_BINS)
        extra = np.full((codes.shape[0], 2), cells + width)  # unscored: a column thrown away
        extra[scored] = cells + score
        extra_values = np.zeros(extra.shape)
        extra_values[scored] = score_values
        codes, values = np.hstack([codes, extra]), np.hstack([values, extra_values])
    sums = weighted_counts(weights.weights, a.rows[graded], codes, cells + width + 1, values)
    return sums[:, :cells], (sums[:, cells:cells + width] if violating else None)


def _f1_bounds(codes: Sequence[int], a: RowArrays, cells: np.ndarray | None
               ) -> dict[int, tuple[float, float]]:
    """Percentile interval of each label's F1 over the Poisson resamples: each resample's
    confusion matrix is a sum of item weights per (gold, prediction) cell (``cells``)."""
    if not codes:
        return {}
    if cells is None:
        return {j: (math.nan, math.nan) for j in codes}
    cm = cells.reshape(-1, a.n_labels, a.n_labels + len(OUTCOMES_NOT_OK))
    f1 = []
    for j in codes:
        with np.errstate(invalid="ignore", divide="ignore"):
            f1.append(2 * cm[:, j, j] / (cm[:, :, j].sum(axis=1) + cm[:, j, :].sum(axis=1)))
    low, high = percentile_bounds(np.stack(f1))
    return {j: (float(low[i]), float(high[i])) for i, j in enumerate(codes)}


def metric_row(
    decisions: Sequence[Decision],
    labels: Sequence[str],
    *,
    slice_key: SliceKey | None = None,
    seed: int = 0,
    violating: Sequence[str] | None = None,
    production: Production | None = None,
    weights: ItemWeights | None = None,
) -> MetricRow:
    """All metrics of one decider on one policy over ``decisions``.

    Accuracy, coverage, precision and recall carry Wilson intervals, F1 a Poisson bootstrap over
    items (the resamples of ``weights``, shared by every row of a run; without it, drawn for
    these items with ``seed``). With ``violating`` (the policy's violating labels), the row also
    gets ``score_quality``; with ``production`` (the violating labels and a prevalence or
    sampling design), its production rates.
    """
    weights = weights or ItemWeights([d.item_id for d in decisions], seed=seed)
    return metric_row_of(RowArrays.of(decisions, labels, weights, violating), slice_key=slice_key,
                         violating=violating, production=production, weights=weights)


def metric_row_of(
    a: RowArrays,
    *,
    weights: ItemWeights,
    slice_key: SliceKey | None = None,
    violating: Sequence[str] | None = None,
    production: Production | None = None,
) -> MetricRow:
    """:func:`metric_row` of one decider's decisions as arrays (``a.p`` holds P(violating) when
    ``violating`` is given)."""
    labels = list(a.labels)
    graded = a.graded
    gold, pred = a.gold[graded], a.pred[graded]
    n = int(graded.sum())
    confusion = coded_confusion_matrix(gold, pred, len(labels))
    correct = int(np.trace(confusion[:, : len(labels)]))
    outcomes = a.outcome_counts(graded)
    precision, recall, f1_values = {}, {}, {}
    for j, label in enumerate(labels):
        tp = int(confusion[j][j])
        predicted = int(confusion[:, j].sum())
        actual = int(confusion[j].sum())
        precision[label] = wilson(tp, predicted)
        recall[label] = wilson(tp, actual)
        f1_values[j] = 2 * tp / (predicted + actual) if n and (predicted or actual) else None
    cells, score_sums = _resample_sums(a, weights, violating) if n else (None, None)
    f1_bounds = _f1_bounds([j for j, v in f1_values.items() if v is not None], a, cells)
    f1 = {label: from_bounds(f1_values[j], f1_bounds.get(j, (None, None)),  # type: ignore[arg-type]
                             "bootstrap") for j, label in enumerate(labels)}
    cost = math.fsum(a.cost)  # exactly rounded: the same total in any order (shards merge)
    latencies = a.latency[np.isfinite(a.latency)]
    strata = None
    if production and production[2] is not None:
        strata = [a.meta[i].get(production[2].stratum) for i in np.flatnonzero(graded)]
    return MetricRow(
        policy=a.policy,
        decider=a.decider,
        decider_kind=a.kind,
        slice=slice_key,
        n=n,
        n_no_gold=len(a) - n,
        labels=labels,
        confusion=confusion.tolist(),
        outcomes=outcomes,
        accuracy=wilson(correct, n),
        precision=precision,
        recall=recall,
        f1=f1,
        cohen_kappa=coded_kappa(gold, pred, len(labels)),
        coverage=wilson(outcomes["ok"], n),
        cost_total_usd=cost,
        cost_per_decision_usd=cost / len(a),
        cost_per_correct_usd=cost / correct if correct else None,
        latency_p50_s=_latency(latencies, 50),
        latency_p95_s=_latency(latencies, 95),
        text_only=int(a.text_only.sum()),
        score_quality=_score_quality(a, violating, weights, score_sums) if violating else None,
        production=production_rates(gold, pred, labels, production[0], production[1],
                                    sampling=production[2], strata=strata)
        if production and n else None,
    )
