"""Build ``metrics.json`` from decisions alone: one row per policy x decider x slice.

Only ``decisions.jsonl`` and the policies' label lists go in, so anyone can recompute every number.
Decisions whose gold is unknown (a leave-one-out tie) are counted in ``n_no_gold`` and left out of
the quality metrics, but their cost is counted. Non-ok outcomes stay in: they are the ``invalid``,
``refusal`` and ``error`` columns of the confusion matrix and count as wrong.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from . import metrics as m
from .records import (
    OUTCOMES_NOT_OK,
    Decision,
    HumanAgreement,
    Interval,
    MetricRow,
    MetricsFile,
    RaterScore,
    SiteScore,
    SliceKey,
)

MISSING_SLICE = "(missing)"


def prediction(decision: Decision) -> str:
    """The decided label, or the outcome name when there is none."""
    return decision.label if decision.outcome == "ok" and decision.label else decision.outcome


def _wilson(successes: int, n: int) -> Interval:
    if n == 0:
        return Interval(value=None, method="wilson")
    low, high = m.wilson_interval(successes, n)
    return Interval(value=successes / n, low=low, high=high, method="wilson")


def metric_row(
    decisions: Sequence[Decision],
    labels: Sequence[str],
    *,
    slice_key: SliceKey | None = None,
    seed: int = 0,
) -> MetricRow:
    """All metrics of one decider on one policy over ``decisions``."""
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
        precision[label] = _wilson(tp, predicted)
        recall[label] = _wilson(tp, actual)
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
        accuracy=_wilson(correct, n),
        precision=precision,
        recall=recall,
        f1=f1,
        cohen_kappa=None if kappa is None or kappa != kappa else float(kappa),
        coverage=_wilson(ok, n),
        cost_total_usd=cost,
        cost_per_decision_usd=cost / len(decisions),
        cost_per_correct_usd=cost / correct if correct else None,
        latency_p50_s=m.percentile(latencies, 50),
        latency_p95_s=m.percentile(latencies, 95),
    )


def slice_values(decision: Decision, key: str) -> list[str]:
    """The slice values of ``decision`` for meta ``key``; a list value puts it in each slice."""
    value = decision.meta.get(key)
    if value is None or value == []:
        return [MISSING_SLICE]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def human_agreement(
    rater_rows: Sequence[Decision], policy: str, decider: str
) -> HumanAgreement:
    """Krippendorff's alpha and each rater's and site's accuracy against (leave-one-out) gold."""
    units: dict[str, list[str]] = defaultdict(list)
    by_rater: dict[str, list[Decision]] = defaultdict(list)
    by_site: dict[str, list[Decision]] = defaultdict(list)
    for d in rater_rows:
        if d.outcome == "ok" and d.label is not None:
            units[d.item_id].append(d.label)
        by_rater[d.rater or "?"].append(d)
        if d.site:
            by_site[d.site].append(d)

    def accuracy(rows: Iterable[Decision]) -> tuple[int, Interval]:
        graded = [d for d in rows if d.gold is not None]
        return len(graded), _wilson(sum(d.label == d.gold for d in graded), len(graded))

    pairable = [labels for labels in units.values() if len(labels) >= 2]
    alpha = m.krippendorff_alpha_nominal(pairable) if pairable else None
    raters = []
    for rater, rows in sorted(by_rater.items()):
        n, acc = accuracy(rows)
        raters.append(RaterScore(rater=rater, site=rows[0].site, n=n, accuracy=acc))
    sites = []
    for site, rows in sorted(by_site.items()):
        n, acc = accuracy(rows)
        sites.append(SiteScore(site=site, raters=len({d.rater for d in rows}), n=n, accuracy=acc))
    _, pooled = accuracy(rater_rows)
    return HumanAgreement(
        policy=policy,
        decider=decider,
        krippendorff_alpha=None if alpha is None or alpha != alpha else float(alpha),
        n_items=len(units),
        raters=raters,
        sites=sites,
        rater_accuracy=pooled,
    )


def build_metrics(
    run_id: str,
    decisions: Sequence[Decision],
    policy_labels: Mapping[str, Sequence[str]],
    slice_by: Sequence[str] = (),
) -> MetricsFile:
    """Every metric row and human-agreement block of a run.

    Undefined values (e.g. kappa when only one class occurs) are stored as null, so the metric
    functions' warnings are silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", m.UndefinedMetricWarning)
        return _build_metrics(run_id, decisions, policy_labels, slice_by)


def _build_metrics(
    run_id: str,
    decisions: Sequence[Decision],
    policy_labels: Mapping[str, Sequence[str]],
    slice_by: Sequence[str],
) -> MetricsFile:
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    raters: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for d in decisions:
        if d.decider_kind == "human_rater":
            raters[(d.policy, d.decider.rsplit("/", 1)[0])].append(d)
        else:
            groups[(d.policy, d.decider)].append(d)
    rows: list[MetricRow] = []
    for (policy, _), group in groups.items():
        labels = policy_labels[policy]
        rows.append(metric_row(group, labels))
        for key in slice_by:
            by_value: dict[str, list[Decision]] = defaultdict(list)
            for d in group:
                for value in slice_values(d, key):
                    by_value[value].append(d)
            for value in sorted(by_value):
                rows.append(metric_row(by_value[value], labels, slice_key=SliceKey(key=key, value=value)))
    agreement = [human_agreement(group, policy, name) for (policy, name), group in raters.items()]
    return MetricsFile(run_id=run_id, results=rows, human_agreement=agreement)
