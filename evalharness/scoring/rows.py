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
from ..stats.classification import cohen_kappa, confusion_matrix
from ..stats.coded import encode
from ..stats.poisson import ItemWeights, weighted_counts
from ..stats.ranking import (
    average_precision,
    expected_calibration_error,
    reliability_bins,
    roc_auc,
    score_bootstrap,
)
from .intervals import from_bounds, wilson
from .production import production_rates

__all__ = ["Production", "metric_row", "p_violating", "prediction", "score_quality"]

N_BINS = 10
"""Bins of the reliability table and the calibration error."""

Production = tuple[Sequence[str], float | None, SamplingDesign | None]
"""What a row's production rates are estimated with: the violating labels, and a prevalence or a
sampling design."""


def prediction(decision: Decision) -> str:
    """The decided label, or the outcome name when there is none."""
    return decision.label if decision.outcome == "ok" and decision.label else decision.outcome


def p_violating(decision: Decision, violating: Sequence[str]) -> float | None:
    """P(violating) of one decision: its ``scores`` summed over the violating labels.

    None when the decision has no score: a non-ok outcome, or a decider that gives no ``scores``.
    Labels missing from ``scores`` count as 0; the sum is clipped to [0, 1].
    """
    if decision.outcome != "ok" or not decision.scores:
        return None
    total = sum(decision.scores.get(label, 0.0) for label in violating)
    return min(1.0, max(0.0, float(total)))


def score_quality(
    graded: Sequence[Decision], violating: Sequence[str], *, seed: int = 0,
    weights: ItemWeights | None = None,
) -> ScoreQuality:
    """ROC AUC, average precision, ECE and reliability bins of P(violating) vs gold violating.

    ``graded`` are decisions with a gold label. Those without a score (non-ok outcomes) are left
    out and counted in ``n_unscored``. Intervals are Poisson bootstraps over items (the
    resamples of ``weights``, else of the items' ids with ``seed``; resamples with one class only
    dropped; see :func:`evalharness.stats.ranking.score_bootstrap`).
    """
    pairs = [(d.gold in violating, p) for d in graded
             if (p := p_violating(d, violating)) is not None]
    y = np.array([t for t, _ in pairs], dtype=bool)
    s = np.array([p for _, p in pairs], dtype=np.float64)
    if not pairs:
        auc = ap = ece = Interval(value=None, method="bootstrap")
        bins: list[ReliabilityBin] = []
    else:
        scored = [d.item_id for d in graded if p_violating(d, violating) is not None]
        weights = weights or ItemWeights(scored, seed=seed)
        bounds = score_bootstrap(y, s, weights.weights, weights.rows(scored), n_bins=N_BINS)
        auc = from_bounds(roc_auc(y, s), bounds["roc_auc"], "bootstrap")
        ap = from_bounds(average_precision(y, s), bounds["average_precision"], "bootstrap")
        ece = from_bounds(expected_calibration_error(y, s, n_bins=N_BINS), bounds["ece"],
                          "bootstrap")
        bins = [ReliabilityBin(**b) for b in reliability_bins(y, s, n_bins=N_BINS)]
    return ScoreQuality(
        violating=list(violating),
        n_scored=len(pairs),
        n_unscored=len(graded) - len(pairs),
        n_positive=int(y.sum()),
        roc_auc=auc,
        average_precision=ap,
        ece=ece,
        reliability=bins,
    )


def _latency(latencies: Sequence[float], q: float) -> float | None:
    return float(np.percentile(latencies, q)) if latencies else None


def _f1_bounds(codes: Sequence[int], n_labels: int, gold: np.ndarray, pred: np.ndarray,
               weights: ItemWeights, rows: np.ndarray) -> dict[int, tuple[float, float]]:
    """Percentile interval of each label's F1 over the Poisson resamples of ``weights``: each
    resample's confusion matrix is a sum of item weights per (gold, prediction) cell."""
    if not codes:
        return {}
    if len(gold) == 0:
        return {j: (math.nan, math.nan) for j in codes}
    n_codes = n_labels + len(OUTCOMES_NOT_OK)
    cells = weighted_counts(weights.weights, rows, gold * n_codes + pred, n_labels * n_codes)
    cm = cells.reshape(-1, n_labels, n_codes)
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
    these items with ``seed``). With ``violating`` (the policy's violating labels), the row also gets
    ``score_quality``; with ``production`` (the violating labels and a prevalence or sampling
    design), its production rates.
    """
    first = decisions[0]
    graded = [d for d in decisions if d.gold is not None]
    y_true = [d.gold for d in graded]
    y_pred = [prediction(d) for d in graded]
    labels = list(labels)
    n = len(graded)
    confusion = confusion_matrix(y_true, y_pred, labels=labels)  # type: ignore[arg-type]
    gold_codes, pred_codes = encode(y_true, labels), encode(y_pred, labels)  # type: ignore[arg-type]
    correct = int(np.trace(confusion[:, : len(labels)]))
    ok = sum(d.outcome == "ok" for d in graded)
    precision, recall, f1_values = {}, {}, {}
    for j, label in enumerate(labels):
        tp = int(confusion[j][j])
        predicted = int(confusion[:, j].sum())
        actual = int(confusion[j].sum())
        precision[label] = wilson(tp, predicted)
        recall[label] = wilson(tp, actual)
        f1_values[j] = 2 * tp / (predicted + actual) if n and (predicted or actual) else None
    weights = weights or ItemWeights([d.item_id for d in decisions], seed=seed)
    f1_bounds = _f1_bounds([j for j, v in f1_values.items() if v is not None], len(labels),
                           gold_codes, pred_codes, weights, weights.rows([d.item_id for d in graded]))
    f1 = {label: from_bounds(f1_values[j], f1_bounds.get(j, (None, None)),  # type: ignore[arg-type]
                             "bootstrap") for j, label in enumerate(labels)}
    cost = sum(d.cost_usd for d in decisions)
    latencies = [d.latency_s for d in decisions if d.latency_s is not None]
    return MetricRow(
        policy=first.policy,
        decider=first.decider,
        decider_kind=first.decider_kind,
        slice=slice_key,
        n=n,
        n_no_gold=len(decisions) - n,
        labels=labels,
        confusion=confusion.tolist(),
        outcomes={o: sum(d.outcome == o for d in graded) for o in ("ok", *OUTCOMES_NOT_OK)},
        accuracy=wilson(correct, n),
        precision=precision,
        recall=recall,
        f1=f1,
        cohen_kappa=cohen_kappa(y_true, y_pred, labels=labels),  # type: ignore[arg-type]
        coverage=wilson(ok, n),
        cost_total_usd=cost,
        cost_per_decision_usd=cost / len(decisions),
        cost_per_correct_usd=cost / correct if correct else None,
        latency_p50_s=_latency(latencies, 50),
        latency_p95_s=_latency(latencies, 95),
        score_quality=score_quality(graded, violating, weights=weights) if violating else None,
        production=production_rates(graded, labels, production[0], production[1],
                                    sampling=production[2]) if production and n else None,
    )
