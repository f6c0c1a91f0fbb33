"""Build ``metrics.json`` from decisions alone: one row per policy x decider x slice.

Only ``decisions.jsonl`` and the policies' label lists (and violating labels) go in, so anyone can
recompute every number. Decisions whose gold is unknown (a leave-one-out tie) are counted in
``n_no_gold`` and left out of the quality metrics, but their cost is counted. Non-ok outcomes stay
in: they are the ``invalid``, ``refusal`` and ``error`` columns of the confusion matrix and count as
wrong. They carry no score, so ranking and calibration (:func:`score_quality`) cover the ``ok``
decisions only and say how many were left out.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from ..stats import metrics as m
from .humans import human_agreement, wilson
from ..stats.bootstrap import score_bootstrap
from .production import production_rates
from ..stats.multiplicity import holm
from ..records.targets import PolicyPrevalence, SamplingDesign
from ..records import (
    HUMAN_RATER,
    HUMAN_TIER,
    OUTCOMES_NOT_OK,
    Decision,
    Difference,
    Interval,
    MetricRow,
    MetricsFile,
    ReliabilityBin,
    ScoreQuality,
    SliceKey,
    slice_values,
)

__all__ = [
    "build_metrics",
    "human_agreement",
    "metric_row",
    "paired_difference",
    "p_violating",
    "prediction",
    "score_quality",
]

N_BINS = 10

_Cell = tuple[str, str | None, str | None]
"""(policy, slice key, slice value); key and value are None for all items."""


def prediction(decision: Decision) -> str:
    """The decided label, or the outcome name when there is none."""
    return decision.label if decision.outcome == "ok" and decision.label else decision.outcome


def _interval(value: float, bounds: tuple[float, float], method: str) -> Interval:
    """An Interval with nan turned into null (undefined, never a silent NaN on disk)."""
    def clean(x: float) -> float | None:
        return None if x is None or math.isnan(x) else float(x)

    point = clean(value)
    if point is None:
        return Interval(value=None, method=method)
    return Interval(value=point, low=clean(bounds[0]), high=clean(bounds[1]), method=method)


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
    graded: Sequence[Decision], violating: Sequence[str], *, seed: int = 0
) -> ScoreQuality:
    """ROC AUC, average precision, ECE and reliability bins of P(violating) vs gold violating.

    ``graded`` are decisions with a gold label. Those without a score (non-ok outcomes) are left
    out and counted in ``n_unscored``. Intervals are percentile bootstraps over items (1000
    resamples, resamples with one class only dropped; see :mod:`evalharness.bootstrap`).
    """
    pairs = [(d.gold in violating, p) for d in graded
             if (p := p_violating(d, violating)) is not None]
    y = np.array([t for t, _ in pairs], dtype=bool)
    s = np.array([p for _, p in pairs], dtype=np.float64)
    empty = Interval(value=None, method="bootstrap")
    if not pairs:
        auc = ap = ece = empty
        bins: list[ReliabilityBin] = []
    else:
        bounds = score_bootstrap(y, s, n_bins=N_BINS, seed=seed)
        auc = _interval(m.roc_auc(y, s), bounds["roc_auc"], "bootstrap")
        ap = _interval(m.average_precision(y, s), bounds["average_precision"], "bootstrap")
        ece = _interval(m.expected_calibration_error(y, s, n_bins=N_BINS), bounds["ece"],
                        "bootstrap")
        bins = [ReliabilityBin(**b) for b in m.reliability_bins(y, s, n_bins=N_BINS)]
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


def metric_row(
    decisions: Sequence[Decision],
    labels: Sequence[str],
    *,
    slice_key: SliceKey | None = None,
    seed: int = 0,
    violating: Sequence[str] | None = None,
    production: Production | None = None,
) -> MetricRow:
    """All metrics of one decider on one policy over ``decisions``.

    With ``violating`` (the policy's violating labels), the row also gets ``score_quality``; with
    ``production`` (the violating labels and a prevalence or sampling design), its production
    rates.
    """
    first = decisions[0]
    graded = [d for d in decisions if d.gold is not None]
    y_true = [d.gold for d in graded]
    y_pred = [prediction(d) for d in graded]
    labels = list(labels)
    n = len(graded)
    confusion = m.confusion_matrix(y_true, y_pred, labels=labels) if n else [
        [0] * (len(labels) + len(OUTCOMES_NOT_OK)) for _ in labels
    ]
    correct = sum(t == p for t, p in zip(y_true, y_pred))
    ok = sum(d.outcome == "ok" for d in graded)
    precision, recall, f1 = {}, {}, {}
    for j, label in enumerate(labels):
        tp = int(confusion[j][j])
        predicted = int(sum(row[j] for row in confusion))
        actual = int(sum(confusion[j]))
        precision[label] = wilson(tp, predicted)
        recall[label] = wilson(tp, actual)
        if n and (predicted or actual):
            value = 2 * tp / (predicted + actual)
            low, high = m.f1_interval(y_true, y_pred, label=label, labels=labels, seed=seed)
            f1[label] = Interval(value=value, low=low, high=high, method="bootstrap")
        else:
            f1[label] = Interval(value=None, method="bootstrap")
    kappa = m.cohen_kappa(y_true, y_pred, labels=labels) if n else None
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
        confusion=[[int(v) for v in row] for row in confusion],
        outcomes={o: sum(d.outcome == o for d in graded) for o in ("ok", *OUTCOMES_NOT_OK)},
        accuracy=wilson(correct, n),
        precision=precision,
        recall=recall,
        f1=f1,
        cohen_kappa=None if kappa is None or kappa != kappa else float(kappa),
        coverage=wilson(ok, n),
        cost_total_usd=cost,
        cost_per_decision_usd=cost / len(decisions),
        cost_per_correct_usd=cost / correct if correct else None,
        latency_p50_s=m.percentile(latencies, 50),
        latency_p95_s=m.percentile(latencies, 95),
        score_quality=score_quality(graded, violating, seed=seed) if violating else None,
        production=production_rates(graded, labels, production[0], production[1],
                                    sampling=production[2]) if production and n else None,
    )


ALPHA = 0.05
"""Significance level of the comparisons with the best decider (Holm-adjusted)."""
TIED = "no gold independent of the human tier's rater (the other raters tied)"


def comparison_gold(mine: Decision, theirs: Decision) -> str | None:
    """The one gold two deciders are compared on for an item: a human tier's (the majority of
    the raters other than the one standing for the tier) when either side is one, else QA gold.
    None when it is unknown."""
    if theirs.decider_kind == HUMAN_TIER:
        return theirs.gold
    if mine.decider_kind == HUMAN_TIER:
        return mine.gold
    return mine.gold if mine.gold == theirs.gold else None


def _correct(d: Decision, gold: str) -> bool:
    return prediction(d) == gold


def paired_difference(
    decisions: Sequence[Decision], reference: Sequence[Decision], reference_name: str,
    *, seed: int = 0,
) -> Difference | None:
    """Accuracy of ``decisions`` minus that of ``reference`` on the same items, against the same
    gold (:func:`comparison_gold`).

    Items one side lacks, or where no gold fits both, are left out of this comparison only and
    counted in ``n_left_out``. The interval is a percentile bootstrap over the paired items (the
    same resampled items for both sides); the p-value is the exact McNemar test on the items only
    one of them got right. None when no item is left to compare.
    """
    mine = {d.item_id: d for d in decisions}
    theirs = {d.item_id: d for d in reference}
    both = sorted(mine.keys() & theirs.keys())
    golds = {i: comparison_gold(mine[i], theirs[i]) for i in both}
    common = [i for i in both if golds[i] is not None]
    if not common:
        return None
    a = np.array([_correct(mine[i], golds[i]) for i in common], dtype=bool)  # type: ignore[arg-type]
    b = np.array([_correct(theirs[i], golds[i]) for i in common], dtype=bool)  # type: ignore[arg-type]
    diff = a.astype(np.float64) - b.astype(np.float64)
    low, high = m.bootstrap_interval(lambda x: float(x.mean()), diff, seed=seed)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    no_partner = sum(1 for i, d in mine.items() if d.gold is not None and i not in theirs)
    no_gold = sum(1 for i in both if golds[i] is None and mine[i].gold is not None)
    human = HUMAN_TIER in (decisions[0].decider_kind, reference[0].decider_kind)
    reasons = [f"{no_gold} with {TIED if human else 'no gold both share'}" if no_gold else "",
               f"{no_partner} not decided by {reference_name}" if no_partner else ""]
    p_value = m.mcnemar_exact(only_a, only_b)
    return Difference(
        reference=reference_name,
        n=len(common),
        difference=Interval(value=float(diff.mean()), low=low, high=high,
                            method="paired-bootstrap"),
        p_value=p_value, p_holm=p_value,
        only_this_right=only_a,
        only_reference_right=only_b,
        significant=p_value < ALPHA,
        n_left_out=no_gold + no_partner,
        left_out_reason="; ".join(r for r in reasons if r) or None,
    )


def _all_errors(row: MetricRow) -> bool:
    return row.n > 0 and row.outcomes.get("ok", 0) == 0


def _best(rows: Sequence[MetricRow], found: Mapping[str, Sequence[Decision]]) -> MetricRow | None:
    """The most accurate decider on the items every candidate decided, against one gold (a human
    tier's leave-one-out gold when one is among them: the one gold of this many-way comparison);
    a decider with no ok decision is never best. Ties: more items graded overall, then name."""
    cands = [r for r in rows if r.accuracy.value is not None and not _all_errors(r)]
    if not cands:
        return None
    by_item = [{d.item_id: d for d in found[r.decider]} for r in cands]
    human = next((i for i, r in enumerate(cands) if r.decider_kind == HUMAN_TIER), None)
    common = set.intersection(*(set(x) for x in by_item))
    scores = [0] * len(cands)
    for item in common:
        gold = by_item[human][item].gold if human is not None else by_item[0][item].gold
        if gold is None or any(x[item].gold is None for x in by_item):
            continue
        for j, x in enumerate(by_item):
            scores[j] += _correct(x[item], gold)
    j = min(range(len(cands)),
            key=lambda i: (-scores[i], -(cands[i].accuracy.value or 0.0), -cands[i].n, cands[i].decider))
    return cands[j]


def build_metrics(
    run_id: str,
    decisions: Sequence[Decision],
    policy_labels: Mapping[str, Sequence[str]],
    slice_by: Sequence[str] = (),
    *,
    violating: Mapping[str, Sequence[str]] | None = None,
    decider_order: Sequence[str] = (),
    prevalence: Mapping[str, PolicyPrevalence] | None = None,
    sampling: SamplingDesign | None = None,
) -> MetricsFile:
    """Every metric row and human-agreement block of a run.

    Rows follow the order of ``policy_labels`` and then ``decider_order`` (the config's order;
    deciders not named there follow in the order their decisions appear), so a resumed run and an
    uninterrupted one give the same file.

    ``violating`` maps policy ids to their violating labels; with it, deciders whose decisions
    carry ``scores`` get ROC AUC, average precision and calibration. ``prevalence`` (per policy,
    the stated production prevalence) or ``sampling`` (the golden set's stratified design) adds
    each row's production rates. Undefined values (e.g. kappa
    when only one class occurs) are stored as null, so the metric functions' warnings are
    silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", m.UndefinedMetricWarning)
        return _build_metrics(run_id, decisions, policy_labels, slice_by, violating or {},
                              decider_order, prevalence or {}, sampling)


Production = tuple[Sequence[str], float | None, SamplingDesign | None]
"""What a row's production rates are estimated with: the violating labels, and a prevalence or a
sampling design."""


def _production(violating: Sequence[str], stated: PolicyPrevalence | None,
                sampling: SamplingDesign | None,
                slice_key: tuple[str, str] | None = None) -> Production | None:
    if not violating or (stated is None and sampling is None):
        return None
    if sampling is not None:
        return violating, None, sampling
    assert stated is not None
    return violating, stated.for_slice(*slice_key) if slice_key else stated.overall, None


def _build_metrics(
    run_id: str,
    decisions: Sequence[Decision],
    policy_labels: Mapping[str, Sequence[str]],
    slice_by: Sequence[str],
    violating: Mapping[str, Sequence[str]],
    decider_order: Sequence[str],
    prevalence: Mapping[str, PolicyPrevalence],
    sampling: SamplingDesign | None,
) -> MetricsFile:
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    raters: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for d in decisions:
        if d.decider_kind == HUMAN_RATER:
            raters[(d.policy, d.decider.rsplit("/", 1)[0])].append(d)
        else:
            groups[(d.policy, d.decider)].append(d)
    rows: list[MetricRow] = []
    # (policy, slice) -> decider -> its decisions in that slice, for paired differences
    cells: dict[_Cell, dict[str, list[Decision]]] = defaultdict(dict)
    policy_rank = {p: i for i, p in enumerate(policy_labels)}
    decider_rank = {name: i for i, name in enumerate(decider_order)}
    seen = {key: i for i, key in enumerate(groups)}
    ordered = sorted(groups, key=lambda k: (policy_rank.get(k[0], len(policy_rank)),
                                            decider_rank.get(k[1], len(decider_rank)), seen[k]))
    for policy, decider in ordered:
        group = groups[(policy, decider)]
        labels = policy_labels[policy]
        scored = violating.get(policy) if any(d.scores for d in group) else None
        viol, stated = violating.get(policy, ()), prevalence.get(policy)
        rows.append(metric_row(group, labels, violating=scored,
                               production=_production(viol, stated, sampling)))
        cells[(policy, None, None)][decider] = group
        for key in slice_by:
            by_value: dict[str, list[Decision]] = defaultdict(list)
            for d in group:
                for value in slice_values(d.meta, key):
                    by_value[value].append(d)
            for value in sorted(by_value):
                sk = SliceKey(key=key, value=value)
                rows.append(metric_row(by_value[value], labels, slice_key=sk, violating=scored,
                                       production=_production(viol, stated, sampling,
                                                              (key, value))))
                cells[(policy, key, value)][decider] = by_value[value]
    _add_differences(rows, cells)
    agreement = [
        human_agreement(group, policy, name, labels=policy_labels[policy], slice_by=slice_by)
        for (policy, name), group in sorted(
            raters.items(), key=lambda kv: (policy_rank.get(kv[0][0], len(policy_rank)), kv[0][1]))
    ]
    return MetricsFile(run_id=run_id, results=rows, human_agreement=agreement)


def _add_differences(
    rows: list[MetricRow],
    cells: Mapping[_Cell, Mapping[str, Sequence[Decision]]],
) -> None:
    """Set ``accuracy_vs_best`` on every row but the best of its policy and slice."""
    by_cell: dict[_Cell, list[MetricRow]] = defaultdict(list)
    for r in rows:
        by_cell[(r.policy, r.slice.key if r.slice else None,
                 r.slice.value if r.slice else None)].append(r)
    for cell, cell_rows in by_cell.items():
        found = cells[cell]
        best = _best(cell_rows, found)
        if best is None:
            continue
        others = [r for r in cell_rows if r is not best]
        for r in others:
            r.accuracy_vs_best = paired_difference(found[r.decider], found[best.decider],
                                                   best.decider)
        diffs = [r.accuracy_vs_best for r in others if r.accuracy_vs_best is not None]
        reject, adjusted = holm([1.0 if d.p_value is None else d.p_value for d in diffs], ALPHA)
        for d, rej, adj in zip(diffs, reject, adjusted):
            d.p_holm, d.significant = adj, rej
        # "significant" only when every other decider is significantly *less* accurate (a pair
        # compared on its own items may disagree with the ranking on the items all decided)
        ahead = [d.significant and (d.difference.value or 0.0) < 0 for d in diffs]
        best.best = "significant" if others and len(diffs) == len(others) and all(ahead) \
            else "point_estimate"
