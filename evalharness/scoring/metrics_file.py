"""``metrics.json`` from decisions alone: one row per policy x decider x slice, the paired
comparisons with the best decider, and the human raters' agreement.

Only ``decisions.jsonl`` and the policies' label lists (and violating labels) go in, so anyone can
recompute every number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import groupby

import numpy as np

from ..records import HUMAN_RATER, Decision, MetricRow, MetricsFile, SliceKey
from ..records.table import DecisionTable, as_table
from ..records.targets import PolicyPrevalence, SamplingDesign
from ..stats.poisson import ItemWeights
from .best import Cell, add_differences
from .humans import human_agreement
from .columns import RowArrays, SliceMemo
from .ordinal import ordinal_metrics
from .rows import Production, metric_row_of

__all__ = ["Severities", "build_metrics"]

Severities = tuple[Sequence[str], Mapping[str, str]]
"""A policy's labels least severe first, and each label's enforcement action."""


def build_metrics(
    run_id: str,
    decisions: DecisionTable | Sequence[Decision],
    policy_labels: Mapping[str, Sequence[str]],
    slice_by: Sequence[str] = (),
    *,
    violating: Mapping[str, Sequence[str]] | None = None,
    decider_order: Sequence[str] = (),
    prevalence: Mapping[str, PolicyPrevalence] | None = None,
    sampling: SamplingDesign | None = None,
    severities: Mapping[str, Severities] | None = None,
) -> MetricsFile:
    """Every metric row and human-agreement block of a run.

    Rows follow the order of ``policy_labels`` and then ``decider_order`` (the config's order;
    deciders not named there follow in the order their decisions appear), so a resumed run and an
    uninterrupted one give the same file.

    ``violating`` maps policy ids to their violating labels; with it, deciders whose decisions
    carry ``scores`` get ROC AUC, average precision and calibration. ``prevalence`` (per policy,
    the stated production prevalence) or ``sampling`` (the golden set's stratified design) adds
    each row's production rates. ``severities`` (per policy, its labels least severe first and
    each label's action) adds each row's ordinal metrics. Undefined values (e.g. kappa
    when only one class occurs) are stored as null.
    """
    table = as_table(decisions)
    metrics = _build_metrics(run_id, table, policy_labels, slice_by, violating or {},
                             decider_order, prevalence or {}, sampling)
    for row in metrics.results:
        if row.policy in (severities or {}):
            order, actions = severities[row.policy]  # type: ignore[index]
            row.ordinal = ordinal_metrics(row.confusion, row.labels, order, actions)
    return metrics


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
    table: DecisionTable,
    policy_labels: Mapping[str, Sequence[str]],
    slice_by: Sequence[str],
    violating: Mapping[str, Sequence[str]],
    decider_order: Sequence[str],
    prevalence: Mapping[str, PolicyPrevalence],
    sampling: SamplingDesign | None,
) -> MetricsFile:
    is_rater = table.is_value("decider_kind", HUMAN_RATER)
    groups = table.groups(~is_rater)
    raters: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for d in table.decisions(np.flatnonzero(is_rater)):
        raters[(d.policy, d.decider.rsplit("/", 1)[0])].append(d)
    rows: list[MetricRow] = []
    policy_rank = {p: i for i, p in enumerate(policy_labels)}
    decider_rank = {name: i for i, name in enumerate(decider_order)}
    weights = ItemWeights(table.item_ids(np.flatnonzero(~is_rater)))
    slice_memo = SliceMemo()
    seen = {key: i for i, key in enumerate(groups)}
    ordered = sorted(groups, key=lambda k: (policy_rank.get(k[0], len(policy_rank)),
                                            decider_rank.get(k[1], len(decider_rank)), seen[k]))
    for policy, keys in groupby(ordered, key=lambda k: k[0]):
        # (policy, slice) -> decider -> its decisions in that slice, for paired differences;
        # one policy's at a time (differences never cross policies)
        cells: dict[Cell, dict[str, RowArrays]] = defaultdict(dict)
        policy_rows: list[MetricRow] = []
        for _, decider in keys:
            group = groups[(policy, decider)]
            scored = violating.get(policy) if table.has_scores(group).any() else None
            viol, stated = violating.get(policy, ()), prevalence.get(policy)
            arrays = RowArrays.from_table(table, group, policy_labels[policy], weights, scored)
            policy_rows.append(metric_row_of(arrays, violating=scored, weights=weights,
                                             production=_production(viol, stated, sampling)))
            cells[(policy, None, None)][decider] = arrays
            for key in slice_by:
                for value, idx in arrays.slices(key, slice_memo).items():
                    part = arrays.take(idx)
                    policy_rows.append(metric_row_of(
                        part, slice_key=SliceKey(key=key, value=value), violating=scored,
                        weights=weights,
                        production=_production(viol, stated, sampling, (key, value))))
                    cells[(policy, key, value)][decider] = part
        add_differences(policy_rows, cells, weights)
        rows += policy_rows
    agreement = [
        human_agreement(group, policy, name, labels=policy_labels[policy], slice_by=slice_by)
        for (policy, name), group in sorted(
            raters.items(), key=lambda kv: (policy_rank.get(kv[0][0], len(policy_rank)), kv[0][1]))
    ]
    return MetricsFile(run_id=run_id, results=rows, human_agreement=agreement)
