"""Compare two runs item by item: flips, per-policy metric deltas with paired intervals, cost.

Decisions are paired on ``(item_id, policy, decider)``. Per-rater rows (``decider_kind ==
"human_rater"``) are left out; the human tier row of a ``human`` decider is compared like any other.

For each policy x decider in both runs:

* **flips**: items the base got right and the candidate wrong (and the reverse), and every change of
  decided label or outcome, broken down by gold label;
* **deltas** (candidate - base) of accuracy, kappa, coverage, invalid rate, per-label precision,
  recall and F1, cost per decision and latency p50/p95, each with a 95% interval from a paired
  bootstrap over items (the same resampled items for both runs); the accuracy change also gets
  McNemar's exact test;
* for every quality metric, a one-sided upper bound of the **drop** at ``1 - alpha`` (what a
  non-inferiority gate checks against its allowed drop: Newcombe's paired square-and-add interval
  for rates of items — accuracy, coverage, invalid rate, per-label recall — and the paired
  bootstrap for precision, F1 and kappa), and the **detectable drop**: the smallest true drop a
  one-sided test at ``alpha`` over these items detects with the gate's power (80% by default).

Quality is measured on the items both runs decided whose gold is known and the same in both runs;
cost and latency on every paired item. Items or deciders in one run only are counted, not compared.
Non-ok outcomes (invalid, refusal, error) stay in as wrong answers, as in ``metrics.json``.

:func:`compare_decisions` is pure over records; :func:`evalharness.api.comparison.compare_runs`
reads two run folders and, with a gate, checks the result (:mod:`evalharness.gating.gate`). The markdown summary for pull requests
is :func:`evalharness.report.comparison.compare_markdown`.
"""

from __future__ import annotations

import warnings
from statistics import NormalDist
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..stats import metrics as m
from ..scoring.humans import wilson
from ..records import HUMAN_KINDS, HUMAN_RATER, Decision, Interval, Manifest, PolicyInfo
from ..records.comparison import (
    CompareResult,
    DeciderComparison,
    FlipCounts,
    Flips,
    ItemOverlap,
    MetricDelta,
    PolicyComparison,
    RunSide,
    Transition,
)
from ..scoring.rows import metric_row, prediction
from ..stats.paired import PairedCounts, newcombe_paired_interval
from ..stats.power import detectable_difference

__all__ = [
    "CompareResult",
    "DeciderComparison",
    "Flips",
    "ItemOverlap",
    "MetricDelta",
    "PolicyComparison",
    "RunSide",
    "Transition",
    "compare_decisions",
]

COST_METRICS = ("cost_per_decision_usd", "latency_p50_s", "latency_p95_s")
LOWER_IS_BETTER = frozenset({"invalid_rate", *COST_METRICS})
MAX_EXAMPLES = 5


# ------------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# pairing
# ------------------------------------------------------------------------------------------------


def _scored(decisions: Iterable[Decision]) -> list[Decision]:
    return [d for d in decisions if d.decider_kind != HUMAN_RATER]


def _point(value: float | None) -> Interval:
    return Interval(value=None if value is None or value != value else float(value))


def _clean(x: float) -> float | None:
    return None if x != x else float(x)


class _Pairs:
    """Aligned arrays for one decider on one policy over paired items."""

    def __init__(self, base: Sequence[Decision], cand: Sequence[Decision],
                 labels: Sequence[str]) -> None:
        self.base = base
        self.cand = cand
        self.cost_b = np.array([d.cost_usd for d in base], dtype=np.float64)
        self.cost_c = np.array([d.cost_usd for d in cand], dtype=np.float64)
        self.lat_b = np.array([np.nan if d.latency_s is None else d.latency_s for d in base])
        self.lat_c = np.array([np.nan if d.latency_s is None else d.latency_s for d in cand])
        graded = [i for i, (b, c) in enumerate(zip(base, cand))
                  if b.gold is not None and b.gold == c.gold]
        self.gold_changed = sum(
            1 for b, c in zip(base, cand)
            if b.gold is not None and c.gold is not None and b.gold != c.gold
        )
        self.graded = graded
        self.gold = np.array([base[i].gold for i in graded], dtype=object)
        self.pred_b = np.array([prediction(base[i]) for i in graded], dtype=object)
        self.pred_c = np.array([prediction(cand[i]) for i in graded], dtype=object)
        self.ids = [base[i].item_id for i in graded]
        index = {v: k for k, v in enumerate((*labels, *m.OUTCOME_COLUMNS))}
        self.codes = tuple(np.fromiter((index[v] for v in arr.tolist()), dtype=np.intp,
                                       count=arr.size)
                           for arr in (self.gold, self.pred_b, self.pred_c))


def _kappa_codes(t: NDArray[np.intp], p: NDArray[np.intp], k: int) -> float:
    """Cohen's kappa of integer codes ``0..k-1``; the same value as
    :func:`evalharness.metrics.cohen_kappa` (outcome codes are categories gold never uses), at a
    fraction of its per-call cost, because the bootstrap calls it 2 x n_resamples times."""
    n = t.size
    if n == 0:
        return float("nan")
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    observed = np.trace(cm) / n
    expected = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (n * n)
    return float("nan") if expected >= 1.0 else float((observed - expected) / (1 - expected))


def _rate_stats(n_labels: int) -> dict[tuple[str, int | None], Callable[..., float]]:
    """Statistic per (metric, label index) over integer-coded (gold, pred) arrays, as the
    bootstrap calls it once per resample: codes ``0..L-1`` are the labels, ``L..L+2`` the
    outcomes invalid, refusal, error. Undefined values (a zero denominator) are nan, which
    :func:`~evalharness.metrics.bootstrap_interval` drops."""
    nan = float("nan")
    invalid = n_labels + m.OUTCOME_COLUMNS.index("invalid")
    every = range(n_labels + len(m.OUTCOME_COLUMNS))

    def ratio(num: int, den: int) -> float:
        return num / den if den else nan

    stats: dict[tuple[str, int | None], Callable[..., float]] = {
        ("accuracy", None): lambda t, p: ratio(int(np.count_nonzero(t == p)), t.size),
        ("cohen_kappa", None): lambda t, p: _kappa_codes(t, p, len(every)),
        ("coverage", None): lambda t, p: ratio(int(np.count_nonzero(p < n_labels)), t.size),
        ("invalid_rate", None): lambda t, p: ratio(int(np.count_nonzero(p == invalid)), t.size),
    }
    for j in range(n_labels):
        def counts(t: NDArray[Any], p: NDArray[Any], _j: int = j) -> tuple[int, int, int]:
            hit = p == _j
            return int(np.count_nonzero(hit & (t == _j))), int(np.count_nonzero(hit)), int(
                np.count_nonzero(t == _j))

        def precision(t: NDArray[Any], p: NDArray[Any], _c: Callable[..., Any] = counts) -> float:
            tp, predicted, _ = _c(t, p)
            return ratio(tp, predicted)

        def recall(t: NDArray[Any], p: NDArray[Any], _c: Callable[..., Any] = counts) -> float:
            tp, _, actual = _c(t, p)
            return ratio(tp, actual)

        def f1(t: NDArray[Any], p: NDArray[Any], _c: Callable[..., Any] = counts) -> float:
            tp, predicted, actual = _c(t, p)
            return ratio(2 * tp, predicted + actual)

        stats[("precision", j)], stats[("recall", j)], stats[("f1", j)] = precision, recall, f1
    return stats


PAIRED_RATES = ("accuracy", "coverage", "invalid_rate", "recall")
"""Metrics that are a rate over items (each item in or out), so Newcombe's paired interval
applies; the others (precision, F1, kappa) use the paired bootstrap."""


def _paired_outcome(metric: str, j: int | None, t: NDArray[np.intp], p: NDArray[np.intp],
                    n_labels: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per item: whether it counts (the denominator) and whether it has the outcome."""
    every = np.ones(t.size, dtype=bool)
    if metric == "accuracy":
        return every, t == p
    if metric == "coverage":
        return every, p < n_labels
    if metric == "invalid_rate":
        return every, p == n_labels + m.OUTCOME_COLUMNS.index("invalid")
    assert metric == "recall" and j is not None
    return t == j, p == j


def _drop_evidence(metric: str, j: int | None, codes: Sequence[NDArray[np.intp]], n_labels: int,
                   defined: bool, higher: bool, *, alpha: float, power: float,
                   n_resamples: int, stat: Callable[..., float], seed: int) -> dict[str, Any]:
    """The one-sided bound of the drop and the detectable drop for one quality metric
    (``defined``: the metric has a value in both runs)."""
    gold, pred_b, pred_c = codes
    if metric in PAIRED_RATES:
        counted, has_b = _paired_outcome(metric, j, gold, pred_b, n_labels)
        _, has_c = _paired_outcome(metric, j, gold, pred_c, n_labels)
        hb, hc = has_b[counted], has_c[counted]
        counts = PairedCounts(both=int((hb & hc).sum()), candidate_only=int((hc & ~hb).sum()),
                              base_only=int((hb & ~hc).sum()), neither=int((~hb & ~hc).sum()))
        n = counts.n
        ci = newcombe_paired_interval(counts, 1 - 2 * alpha)
        if ci is None:
            return {"n": 0}
        bound = (-ci[0] if higher else ci[1]) + 0.0
        sd = max(counts.discordance, 1 / n) ** 0.5
        return {"n": n, "drop_bound": bound, "bound_method": "newcombe-paired",
                "detectable_drop": detectable_difference(n, sd, alpha=alpha, power=power)}
    n = int(gold.size)
    if not defined or n == 0:
        return {"n": n}
    low, high = m.bootstrap_interval(stat, *codes, n_resamples=n_resamples,
                                     confidence=1 - 2 * alpha, seed=seed)
    if low != low or high != high:  # nan: undefined in every resample
        return {"n": n}
    z = float(NormalDist().inv_cdf(1 - alpha))
    sd = (high - low) / (2 * z) * n ** 0.5  # no spread (nothing changed): nothing to size from
    return {"n": n, "drop_bound": (-low if higher else high) + 0.0, "bound_method": "paired-bootstrap",
            "detectable_drop": detectable_difference(n, sd, alpha=alpha, power=power) if sd > 0 else None}


def _rate_interval(
    metric: str, label: str | None, gold: NDArray[Any], pred: NDArray[Any], labels: Sequence[str]
) -> Interval:
    """Point value with a Wilson interval (kappa and F1: the point only)."""
    n = gold.size
    if metric == "cohen_kappa":
        return _point(m.cohen_kappa(gold, pred, labels=labels) if n else None)
    if metric == "accuracy":
        return wilson(int(np.sum(gold == pred)), n)
    if metric == "coverage":
        return wilson(int(np.sum(~np.isin(pred, m.OUTCOME_COLUMNS))), n)
    if metric == "invalid_rate":
        return wilson(int(np.sum(pred == "invalid")), n)
    assert label is not None
    tp = int(np.sum((gold == label) & (pred == label)))
    if metric == "precision":
        return wilson(tp, int(np.sum(pred == label)))
    if metric == "recall":
        return wilson(tp, int(np.sum(gold == label)))
    denominator = int(np.sum(pred == label) + np.sum(gold == label))
    return _point(2 * tp / denominator if denominator else None)


def _diff_interval(
    stat: Callable[..., float],
    arrays: Sequence[NDArray[Any]],
    value: float | None,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> Interval:
    """candidate - base and its paired percentile-bootstrap interval (items resampled jointly)."""
    if value is None:
        return Interval(value=None, method="paired-bootstrap")
    if arrays[0].size == 0:
        return Interval(value=value, method="paired-bootstrap")
    low, high = m.bootstrap_interval(stat, *arrays, n_resamples=n_resamples,
                                     confidence=confidence, seed=seed)
    return Interval(value=value, low=_clean(low), high=_clean(high), method="paired-bootstrap")


def _significant(diff: Interval) -> bool | None:
    if diff.value is None or diff.low is None or diff.high is None:
        return None
    return diff.low > 0 or diff.high < 0


def _relative(base: float | None, diff: float | None) -> float | None:
    if base is None or diff is None or base == 0:
        return None
    return diff / abs(base)


def _flips(pairs: _Pairs, labels: Sequence[str]) -> Flips:
    right_b = pairs.gold == pairs.pred_b
    right_c = pairs.gold == pairs.pred_c
    by_gold = {label: FlipCounts() for label in labels}
    moves: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    down, up = [], []
    for i, item_id in enumerate(pairs.ids):
        gold = str(pairs.gold[i])
        counts = by_gold.setdefault(gold, FlipCounts())
        if right_b[i] and not right_c[i]:
            counts.correct_to_wrong += 1
            down.append(item_id)
        elif right_c[i] and not right_b[i]:
            counts.wrong_to_correct += 1
            up.append(item_id)
        if pairs.pred_b[i] != pairs.pred_c[i]:
            moves[(gold, str(pairs.pred_b[i]), str(pairs.pred_c[i]))].append(item_id)
    transitions = [
        Transition(gold=g, base=b, candidate=c, n=len(ids), examples=ids[:MAX_EXAMPLES])
        for (g, b, c), ids in sorted(moves.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return Flips(
        correct_to_wrong=len(down),
        wrong_to_correct=len(up),
        changed=sum(t.n for t in transitions),
        by_gold=by_gold,
        transitions=transitions,
        correct_to_wrong_examples=down[:MAX_EXAMPLES],
        wrong_to_correct_examples=up[:MAX_EXAMPLES],
    )


def _cost_stats() -> dict[str, Callable[[NDArray[Any]], float]]:
    """Statistic over one run's per-item costs or latencies (nan = latency not measured)."""

    def mean(x: NDArray[Any]) -> float:
        return float(np.mean(x)) if x.size else float("nan")

    def pct(q: float) -> Callable[[NDArray[Any]], float]:
        def stat(x: NDArray[Any]) -> float:
            # numpy.percentile's default (linear) method, without its per-call overhead: the
            # bootstrap calls this 2 x n_resamples times
            kept = np.sort(x[~np.isnan(x)])
            if not kept.size:
                return float("nan")
            pos = q / 100 * (kept.size - 1)
            low = int(pos)
            high = min(low + 1, kept.size - 1)
            return float(kept[low] + (kept[high] - kept[low]) * (pos - low))
        return stat

    return {"cost_per_decision_usd": mean, "latency_p50_s": pct(50), "latency_p95_s": pct(95)}


def _compare_decider(
    base: Sequence[Decision],
    cand: Sequence[Decision],
    labels: Sequence[str],
    *,
    alpha: float,
    confidence: float,
    n_resamples: int,
    seed: int,
    power: float = 0.8,
) -> DeciderComparison:
    by_b = {d.item_id: d for d in base}
    by_c = {d.item_id: d for d in cand}
    shared = [i for i in by_b if i in by_c]
    pairs = _Pairs([by_b[i] for i in shared], [by_c[i] for i in shared], labels)
    boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    deltas: list[MetricDelta] = []
    for (metric, j), stat in _rate_stats(len(labels)).items():
        label = None if j is None else labels[j]
        b = _rate_interval(metric, label, pairs.gold, pairs.pred_b, labels)
        c = _rate_interval(metric, label, pairs.gold, pairs.pred_c, labels)
        value = None if b.value is None or c.value is None else c.value - b.value

        def paired(t: NDArray[Any], pb: NDArray[Any], pc: NDArray[Any],
                   _stat: Callable[..., float] = stat) -> float:
            return _stat(t, pc) - _stat(t, pb)

        diff = _diff_interval(paired, pairs.codes, value, **boot)
        higher = metric not in LOWER_IS_BETTER
        delta = MetricDelta(metric=metric, label=label, base=b, candidate=c, diff=diff,
                            relative=_relative(b.value, value), higher_is_better=higher,
                            **_drop_evidence(metric, j, pairs.codes, len(labels),
                                             value is not None, higher,
                                             alpha=alpha, power=power, n_resamples=n_resamples,
                                             stat=paired, seed=seed))
        if metric == "accuracy":
            right_b = pairs.gold == pairs.pred_b
            right_c = pairs.gold == pairs.pred_c
            p = m.mcnemar_exact(int(np.sum(right_b & ~right_c)), int(np.sum(~right_b & right_c)))
            delta.p_value = p
            delta.significant = p < alpha
        else:
            delta.significant = _significant(diff)
        deltas.append(delta)
    for metric, stat1 in _cost_stats().items():
        vb = _clean(stat1(pairs.lat_b if metric.startswith("latency") else pairs.cost_b))
        vc = _clean(stat1(pairs.lat_c if metric.startswith("latency") else pairs.cost_c))
        value = None if vb is None or vc is None else vc - vb
        arrays = ((pairs.lat_b, pairs.lat_c) if metric.startswith("latency")
                  else (pairs.cost_b, pairs.cost_c))

        def paired_cost(xb: NDArray[Any], xc: NDArray[Any],
                        _stat: Callable[[NDArray[Any]], float] = stat1) -> float:
            return _stat(xc) - _stat(xb)

        diff = _diff_interval(paired_cost, arrays, value, **boot)
        deltas.append(MetricDelta(metric=metric, base=_point(vb), candidate=_point(vc), diff=diff,
                                  relative=_relative(vb, value), significant=_significant(diff),
                                  higher_is_better=False))
    invalid = sum(d.outcome == "invalid" for d in cand)
    first = cand[0] if cand else base[0]
    return DeciderComparison(
        policy=first.policy,
        decider=first.decider,
        decider_kind=first.decider_kind,
        n_paired=len(shared),
        n_graded=len(pairs.graded),
        n_only_base=len(by_b) - len(shared),
        n_only_candidate=len(by_c) - len(shared),
        n_gold_changed=pairs.gold_changed,
        flips=_flips(pairs, labels),
        deltas=deltas,
        candidate_decisions=len(cand),
        candidate_cached=sum(d.cached for d in cand),
        candidate_invalid_rate=wilson(invalid, len(cand)),
        candidate_invalid=invalid,
        candidate_metrics=metric_row(cand, labels, seed=seed) if cand else None,
    )


def _policy_labels(*infos: PolicyInfo | None, decisions: Iterable[Decision]) -> list[str]:
    labels: list[str] = []
    for info in infos:
        for label in info.labels if info else []:
            if label not in labels:
                labels.append(label)
    for d in decisions:  # labels a policy file no longer lists, so nothing is dropped
        for value in (d.gold, d.label):
            if value is not None and value not in labels and value not in m.OUTCOME_COLUMNS:
                labels.append(value)
    return labels


def _side(path: Path | str, manifest: Manifest, decisions: Sequence[Decision]) -> RunSide:
    return RunSide(
        run_id=manifest.run_id,
        path=str(path),
        status=manifest.status,
        started_at=manifest.started_at,
        config_name=str(manifest.config.get("name")) if manifest.config.get("name") else None,
        git_commit=(manifest.git or {}).get("commit"),
        items=len({d.item_id for d in decisions}),
        decisions=len(decisions),
        cached=sum(d.cached for d in decisions),
    )


def compare_decisions(
    base_manifest: Manifest,
    base_decisions: Sequence[Decision],
    candidate_manifest: Manifest,
    candidate_decisions: Sequence[Decision],
    *,
    base_path: Path | str = "",
    candidate_path: Path | str = "",
    confidence: float = 0.95,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: int = 0,
    power: float = 0.8,
) -> CompareResult:
    """Pair two runs' decisions item by item and compute flips and metric deltas (pure).

    Parameters
    ----------
    base_manifest, candidate_manifest : Manifest
        The runs' manifests (policy versions, prompt hashes and labels come from here).
    base_decisions, candidate_decisions : sequence of Decision
        The runs' ``decisions.jsonl`` rows; per-rater rows are ignored.
    confidence : float, default 0.95
        Level of every interval.
    alpha : float, default 0.05
        Significance level of the ``significant`` flags (McNemar for accuracy, the paired
        interval excluding 0 for the other metrics), and one-sided level of each drop bound.
    power : float, default 0.8
        Power at which each metric's detectable drop is computed.
    n_resamples, seed : int
        Paired bootstrap resamples and seed; the same inputs give the same intervals.

    Returns
    -------
    CompareResult
        With ``gate`` unset; see :func:`evalharness.gate.check_gate`.
    """
    base = _scored(base_decisions)
    cand = _scored(candidate_decisions)
    notes: list[str] = []
    for name, manifest in (("base", base_manifest), ("candidate", candidate_manifest)):
        if manifest.status != "complete":
            notes.append(f"the {name} run {manifest.run_id} is {manifest.status}, not complete: "
                         "only the decisions it has are compared")
    items_b = {d.item_id for d in base}
    items_c = {d.item_id for d in cand}
    overlap = ItemOverlap(both=len(items_b & items_c), only_base=len(items_b - items_c),
                          only_candidate=len(items_c - items_b))
    if overlap.only_base or overlap.only_candidate:
        notes.append(
            f"the runs decided different items: {overlap.both} in both are compared; "
            f"{overlap.only_base} only in the base and {overlap.only_candidate} only in the "
            "candidate are left out"
        )
    groups_b: dict[str, dict[str, list[Decision]]] = defaultdict(lambda: defaultdict(list))
    groups_c: dict[str, dict[str, list[Decision]]] = defaultdict(lambda: defaultdict(list))
    for d in base:
        groups_b[d.policy][d.decider].append(d)
    for d in cand:
        groups_c[d.policy][d.decider].append(d)
    policies_b = list(dict.fromkeys([*base_manifest.policies, *groups_b]))
    policies_c = list(dict.fromkeys([*candidate_manifest.policies, *groups_c]))
    policies: list[PolicyComparison] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", m.UndefinedMetricWarning)
        for pid in [p for p in policies_b if p in policies_c]:
            info_b = base_manifest.policies.get(pid)
            info_c = candidate_manifest.policies.get(pid)
            in_b, in_c = groups_b.get(pid, {}), groups_c.get(pid, {})
            labels = _policy_labels(info_b, info_c,
                                    decisions=[*(d for g in in_b.values() for d in g),
                                               *(d for g in in_c.values() for d in g)])
            if info_b and info_c and info_b.labels != info_c.labels:
                notes.append(f"{pid}: the label set changed ({info_b.labels} -> {info_c.labels}); "
                             "per-label deltas use the union")
            deciders = [
                _compare_decider(in_b[name], in_c[name], labels, alpha=alpha,
                                 confidence=confidence, n_resamples=n_resamples, seed=seed,
                                 power=power)
                for name in in_b if name in in_c
            ]
            for dc in deciders:
                if dc.n_gold_changed:
                    notes.append(f"{pid}/{dc.decider}: gold differs on {dc.n_gold_changed} paired "
                                 "items (left out of quality deltas)")
            cand_rows = [d for g in in_c.values() for d in g if d.decider_kind not in HUMAN_KINDS]
            hash_b = info_b.prompt_hash if info_b else None
            hash_c = info_c.prompt_hash if info_c else None
            policies.append(PolicyComparison(
                policy=pid,
                labels=labels,
                violating=list((info_c or info_b).violating) if (info_c or info_b) else [],
                base_version=info_b.version if info_b else None,
                candidate_version=info_c.version if info_c else None,
                base_prompt_hash=hash_b,
                candidate_prompt_hash=hash_c,
                prompt_changed=hash_b != hash_c,
                candidate_decisions=len(cand_rows),
                candidate_cached=sum(d.cached for d in cand_rows),
                deciders=deciders,
                deciders_only_in_base=[n for n in in_b if n not in in_c],
                deciders_only_in_candidate=[n for n in in_c if n not in in_b],
            ))
    for pc in policies:
        for name in pc.deciders_only_in_base:
            notes.append(f"{pc.policy}: decider {name} is only in the base run (not compared)")
        for name in pc.deciders_only_in_candidate:
            notes.append(f"{pc.policy}: decider {name} is only in the candidate run (not compared)")
    described_b = {d.get("name"): d for d in base_manifest.deciders if isinstance(d, dict)}
    for d in candidate_manifest.deciders:
        before = described_b.get(d.get("name")) if isinstance(d, dict) else None
        if before and before.get("model") != d.get("model"):
            notes.append(f"decider {d.get('name')} runs a different model: "
                         f"{before.get('model')} -> {d.get('model')}")
    only_b = [p for p in policies_b if p not in policies_c]
    only_c = [p for p in policies_c if p not in policies_b]
    if only_b:
        notes.append(f"policies only in the base run (not compared): {', '.join(only_b)}")
    if only_c:
        notes.append(f"policies only in the candidate run (not compared): {', '.join(only_c)}")
    return CompareResult(
        base=_side(base_path, base_manifest, base),
        candidate=_side(candidate_path, candidate_manifest, cand),
        confidence=confidence,
        alpha=alpha,
        power=power,
        n_resamples=n_resamples,
        items=overlap,
        policies=policies,
        policies_only_in_base=only_b,
        policies_only_in_candidate=only_c,
        notes=notes,
    )


