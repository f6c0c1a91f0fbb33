"""Tier routing: thresholds with guarantees, cascades of tiers, the cheapest plan meeting targets.

Pure functions over arrays (numpy, ``records``, ``metrics``, ``targets``); no file I/O.
``routing_plan`` reads a run folder into :class:`PolicyData` and writes what this module returns.

Method
------
1. **Split.** Items are split by ``sha256(f"{seed}:{item_id}")`` into a calibration share and a
   disjoint validation share. Thresholds and the plan are chosen on calibration items only; every
   number a plan is signed on comes from validation items.
2. **Thresholds.** A decider with ``scores`` gives ``P(violating)`` = the sum of its scores over
   the policy's violating labels. Auto-action takes items with ``P >= t``; auto-clear takes items
   with ``P <= t``. A step's targets are one-sided Clopper-Pearson bounds: the lower bound of
   precision for auto-action; for auto-clear the upper bound of the violating share among cleared
   items (the false-negative ceiling) and, with a recall target, of the share of violating items
   cleared (at most ``1 - recall``). On calibration items a threshold is *eligible* when these
   bounds meet the targets at a stricter level (:func:`selection_confidence`: the margin that lets
   it hold on validation with ``selection_power``); the eligible threshold taking the most items is
   chosen. It is *confirmed* when the bounds at ``confidence``, computed on validation items it
   never saw, meet the targets. The guarantee rests on that check alone: the threshold is fixed
   before validation items are looked at, so the bound is exact.
   Non-ok decisions (invalid, refusal, error) carry no score: they are always escalated, never
   auto-decided, and counted.
3. **Cascades.** Ordered automated tiers each auto-decide the items inside their thresholds and
   escalate the rest; the last tier (a human tier, or any decider) decides everything left. Each
   item costs what every tier that looked at it costs. A non-ok decision of the last tier leaves the
   item undecided: a miss for recall, never a prediction.
4. **Search.** Tier orders (up to ``max_automated_tiers`` automated tiers, each with a few eligible
   thresholds, calibrated on the items that actually reach it) are evaluated on calibration items;
   the cost/F1 Pareto frontier is reported, and the cheapest plan meeting every end-to-end target on
   calibration items is checked once on validation items. If it does not hold there, the cheapest
   single-decider baseline that meets the targets on validation is recommended instead.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from .metrics import (
    UndefinedMetricWarning,
    binomial_sample_size,
    clopper_pearson_interval,
    clopper_pearson_lower,
    samples_to_confirm_at_least,
)
from .records import OUTCOMES_NOT_OK, Decision, Interval
from .targets import CostOverrides, LabelTargets, RoutingTargets, SliceTargets

__all__ = [
    "Cascade",
    "DeciderArrays",
    "PolicyData",
    "PolicyGoals",
    "PolicyRouting",
    "RoutingPlan",
    "Step",
    "ThresholdCheck",
    "build_policy_data",
    "calibration_mask",
    "choose_action_threshold",
    "choose_clear_threshold",
    "evaluate_cascade",
    "resolve_goals",
    "route_policy",
    "simulate",
]

SCHEMA_VERSION = 1
HUMAN_KINDS = frozenset({"human"})
KIND_NAMES = {"llm": "LLM", "classic": "classic", "precomputed": "precomputed-score",
              "human": "human", "fake": "test"}
UNKNOWN_SITE = "site not recorded"


# =============================================================================================
# statistics helpers (thin, cached wrappers around metrics)
# =============================================================================================


@lru_cache(maxsize=500_000)
def _lower(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson lower bound; 0.0 with no items (nothing is confirmed)."""
    if n == 0:
        return 0.0
    return clopper_pearson_lower(k, n, confidence=confidence)


def _upper(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound; 1.0 with no items."""
    return 1.0 - _lower(n - k, n, confidence) if n else 1.0


def _interval(k: int, n: int, confidence: float) -> Interval:
    """``k/n`` with its two-sided Clopper-Pearson interval; value null when ``n == 0``."""
    if n == 0:
        return Interval(value=None, method="clopper-pearson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        low, high = clopper_pearson_interval(k, n, confidence=confidence)
    return Interval(value=k / n, low=low, high=high, method="clopper-pearson")


def calibration_mask(item_ids: Sequence[str], *, share: float, seed: int) -> NDArray[np.bool_]:
    """True for items in the calibration split: ``sha256(f"{seed}:{id}")`` as a number in [0, 1)
    below ``share``. Stable across runs, machines and item order."""
    out = np.zeros(len(item_ids), dtype=bool)
    for i, item_id in enumerate(item_ids):
        digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2**64 < share
    return out


# =============================================================================================
# data
# =============================================================================================


@dataclass
class DeciderArrays:
    """One decider's decisions on a policy's items, aligned with :attr:`PolicyData.item_ids`.

    Labels are integer codes: ``0..L-1`` the policy labels, ``L + j`` the j-th non-ok outcome.
    """

    name: str
    kind: str
    pred: NDArray[np.intp]
    """Decided label code, or ``L + j`` for a non-ok outcome."""
    p: NDArray[np.float64]
    """P(violating): sum of ``scores`` over the violating labels; nan without a score."""
    act: NDArray[np.intp]
    """Label code given on auto-action (the most likely violating label)."""
    clear: NDArray[np.intp]
    """Label code given on auto-clear (the most likely non-violating label)."""
    gold: NDArray[np.intp]
    """Gold this decider is graded against (leave-one-out gold for human tiers)."""
    cost: NDArray[np.float64]
    seconds: NDArray[np.float64]
    """Human handling seconds (0 for machines; nan when unknown)."""
    site: NDArray[np.object_]

    @property
    def scored(self) -> bool:
        """Gives a confidence (``scores``) on at least one item, so it can take a threshold."""
        return self.kind not in HUMAN_KINDS and bool(np.isfinite(self.p).any())

    def take(self, idx: NDArray[np.intp]) -> DeciderArrays:
        return DeciderArrays(self.name, self.kind, self.pred[idx], self.p[idx], self.act[idx],
                             self.clear[idx], self.gold[idx], self.cost[idx], self.seconds[idx],
                             self.site[idx])


@dataclass
class PolicyData:
    """Everything routing needs about one policy: items and every candidate tier's decisions."""

    policy: str
    labels: tuple[str, ...]
    violating: tuple[str, ...]
    item_ids: list[str]
    meta: list[dict[str, Any]]
    deciders: dict[str, DeciderArrays]
    left_out: dict[str, int] = field(default_factory=dict)
    """Items not used, by reason (no decision from a tier, or no gold for a tier)."""

    @property
    def n(self) -> int:
        return len(self.item_ids)

    @property
    def violating_codes(self) -> NDArray[np.intp]:
        return np.array([self.labels.index(v) for v in self.violating], dtype=np.intp)

    def is_violating(self, codes: NDArray[np.intp]) -> NDArray[np.bool_]:
        """True where a label code (or outcome code) is a violating label."""
        lookup = np.zeros(len(self.labels) + len(OUTCOMES_NOT_OK), dtype=bool)
        lookup[self.violating_codes] = True
        return lookup[codes]

    def take(self, idx: NDArray[np.intp]) -> PolicyData:
        return PolicyData(self.policy, self.labels, self.violating,
                          [self.item_ids[i] for i in idx], [self.meta[i] for i in idx],
                          {k: d.take(idx) for k, d in self.deciders.items()}, dict(self.left_out))

    def slice_masks(self, keys: Sequence[str]) -> dict[tuple[str, str], NDArray[np.bool_]]:
        """Items per (meta key, value); a list value counts in each of its slices."""
        out: dict[tuple[str, str], NDArray[np.bool_]] = {}
        for key in keys:
            for i, meta in enumerate(self.meta):
                value = meta.get(key)
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if v is None or v == "":
                        continue
                    mask = out.setdefault((key, str(v)), np.zeros(self.n, dtype=bool))
                    mask[i] = True
        return dict(sorted(out.items(), key=lambda kv: (kv[0][0], -int(kv[1].sum()), kv[0][1])))


def build_policy_data(
    decisions: Sequence[Decision],
    *,
    policy: str,
    labels: Sequence[str],
    violating: Sequence[str],
    deciders: Sequence[str] | None = None,
    costs: CostOverrides | None = None,
) -> PolicyData:
    """Align the decisions of every candidate tier on one policy's items.

    Per-rater rows (``human_rater``) are ignored. An item is used only when every tier has a
    decision on it with a known gold, so every plan is graded on the same items; the rest are
    counted in ``left_out`` by reason.
    """
    labels = tuple(labels)
    violating = tuple(violating)
    if not set(violating) <= set(labels):
        raise ValueError(f"violating labels {list(violating)} are not all in labels {list(labels)}")
    codes = {lab: i for i, lab in enumerate((*labels, *OUTCOMES_NOT_OK))}
    costs = costs or CostOverrides()
    rows: dict[str, dict[str, Decision]] = {}
    kinds: dict[str, str] = {}
    for d in decisions:
        if d.policy != policy or d.decider_kind == "human_rater":
            continue
        if deciders is not None and d.decider not in deciders:
            continue
        rows.setdefault(d.decider, {}).setdefault(d.item_id, d)
        kinds.setdefault(d.decider, d.decider_kind)
    names = list(rows)
    all_ids = sorted(set().union(*(r.keys() for r in rows.values()))) if rows else []
    left_out: dict[str, int] = {}
    used: list[str] = []
    for item_id in all_ids:
        reason = None
        for name in names:
            dec = rows[name].get(item_id)
            if dec is None:
                reason = f"no decision from {name}"
            elif dec.gold is None or dec.gold not in labels:
                reason = (f"no fair gold for {name} (the other raters tied)"
                          if kinds[name] in HUMAN_KINDS else f"no gold for {name}")
            if reason:
                break
        if reason:
            left_out[reason] = left_out.get(reason, 0) + 1
        else:
            used.append(item_id)
    non_violating = [lab for lab in labels if lab not in violating]
    arrays: dict[str, DeciderArrays] = {}
    for name in names:
        n = len(used)
        pred = np.empty(n, dtype=np.intp)
        p = np.full(n, np.nan)
        act = np.full(n, codes[violating[0]] if violating else 0, dtype=np.intp)
        clear = np.full(n, codes[non_violating[0]] if non_violating else 0, dtype=np.intp)
        gold = np.empty(n, dtype=np.intp)
        cost = np.zeros(n)
        seconds = np.zeros(n)
        site = np.empty(n, dtype=object)
        human = kinds[name] in HUMAN_KINDS
        for i, item_id in enumerate(used):
            dec = rows[name][item_id]
            ok = dec.outcome == "ok" and dec.label in labels
            pred[i] = codes[dec.label] if ok else codes[dec.outcome if dec.outcome != "ok" else "invalid"]
            gold[i] = codes[dec.gold]
            if ok and dec.scores and violating:
                s = dec.scores
                p[i] = min(1.0, max(0.0, float(sum(s.get(v, 0.0) for v in violating))))
                act[i] = codes[max(violating, key=lambda v: s.get(v, 0.0))]
                if non_violating:
                    clear[i] = codes[max(non_violating, key=lambda v: s.get(v, 0.0))]
            cost[i] = dec.cost_usd
            if name in costs.decider_cost_usd:
                cost[i] = costs.decider_cost_usd[name]
            if human:
                site[i] = dec.site or UNKNOWN_SITE
                seconds[i] = dec.latency_s if dec.latency_s is not None else np.nan
                rate = costs.hourly_cost_usd.get(dec.site or "", costs.hourly_cost_usd.get(name))
                if rate is not None and dec.latency_s is not None:
                    cost[i] = rate * dec.latency_s / 3600
        arrays[name] = DeciderArrays(name, kinds[name], pred, p, act, clear, gold, cost, seconds, site)
    meta = [dict(rows[names[0]][i].meta) for i in used] if names else []
    return PolicyData(policy, labels, violating, used, meta, arrays, left_out)


# =============================================================================================
# goals (targets resolved for one policy)
# =============================================================================================


@dataclass(frozen=True)
class PolicyGoals:
    """The targets that apply to one policy, after per-policy overrides."""

    precision: float | None
    recall: float | None
    fn_ceiling: float | None
    labels: dict[str, LabelTargets]
    slices: tuple[SliceTargets, ...]
    confidence: float
    min_slice_items: int
    threshold_selection_confidence: float = 0.0
    """Level of the calibration bound a threshold must pass (see :func:`selection_confidence`);
    0 means ``confidence``."""

    def __post_init__(self) -> None:
        if not self.threshold_selection_confidence:
            object.__setattr__(self, "threshold_selection_confidence", self.confidence)

    def describe(self) -> dict[str, Any]:
        return {
            "precision_target": self.precision,
            "recall_target": self.recall,
            "auto_clear_max_violating": self.fn_ceiling,
            "labels": {k: v.model_dump(exclude_none=True) for k, v in self.labels.items()},
            "slices": [s.model_dump(exclude_none=True) for s in self.slices],
        }


def selection_confidence(confidence: float, power: float, ratio: float) -> float:
    """Level of the calibration bound that makes a threshold hold on validation with ``power``.

    With ``ratio`` = calibration items / validation items (rho), a threshold is eligible on
    calibration items when its one-sided Clopper-Pearson bound at level
    ``Phi(z_c sqrt(rho) + z_p sqrt(1 + rho))`` meets the target. Then, if it performs on
    validation items as on calibration items, the validation bound at level ``confidence`` meets
    the target with probability about ``power`` (normal approximation; ``z_c``, ``z_p`` are the
    normal quantiles of ``confidence`` and ``power``). Without this margin a threshold chosen at
    the edge holds on validation only about half the time.

    Examples
    --------
    >>> round(selection_confidence(0.95, 0.8, 1.0), 4)
    0.9977
    """
    nd = NormalDist()
    z_c, z_p = nd.inv_cdf(confidence), nd.inv_cdf(power)
    rho = max(ratio, 1e-9)
    return min(1 - 1e-9, nd.cdf(z_c * math.sqrt(rho) + z_p * math.sqrt(1 + rho)))


def resolve_goals(targets: RoutingTargets, policy: str) -> PolicyGoals:
    """Top-level targets, with ``targets.policies[policy]`` keys that were given replacing them."""
    values: dict[str, Any] = {
        "precision_target": targets.precision_target,
        "recall_target": targets.recall_target,
        "auto_clear_max_violating": targets.auto_clear_max_violating,
    }
    labels = dict(targets.labels)
    override = targets.policies.get(policy)
    if override is not None:
        for key in values:
            value = getattr(override, key)
            if value is not None:
                values[key] = None if value == "off" else value
        labels.update(override.labels)
    return PolicyGoals(
        precision=values["precision_target"],
        recall=values["recall_target"],
        fn_ceiling=values["auto_clear_max_violating"],
        labels=labels,
        slices=tuple(s for s in targets.slices if s.policy in (None, policy)),
        confidence=targets.confidence,
        min_slice_items=targets.min_slice_items,
    )


# =============================================================================================
# thresholds
# =============================================================================================


def _sorted_counts(p: NDArray[np.float64], y: NDArray[np.bool_]) -> tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]
]:
    """Scored items' P sorted ascending, its unique values, and prefix counts of violating items
    (``prefix[i]`` = violating items among the ``i`` lowest scores)."""
    keep = np.isfinite(p)
    order = np.argsort(p[keep], kind="stable")
    ps, ys = p[keep][order], y[keep][order]
    prefix = np.concatenate([[0], np.cumsum(ys, dtype=np.intp)])
    return ps, np.unique(ps), prefix


def action_candidates(
    p: NDArray[np.float64], y: NDArray[np.bool_], *, target: float, confidence: float
) -> list[tuple[float, int, int]]:
    """Eligible auto-action thresholds ``(t, taken, violating among taken)``, most items first.

    Eligible: the one-sided lower bound of precision (violating share among items with
    ``P >= t``) is at least ``target``. Items without a score (nan) are never taken.
    """
    ps, uniq, prefix = _sorted_counts(p, y)
    if ps.size == 0:
        return []
    start = np.searchsorted(ps, uniq, side="left")
    n = ps.size - start
    k = prefix[-1] - prefix[start]
    out = []
    for t, ni, ki in zip(uniq.tolist(), n.tolist(), k.tolist()):
        if ki >= target * ni and _lower(ki, ni, confidence) >= target:
            out.append((t, ni, ki))
    return out


def clear_candidates(
    p: NDArray[np.float64],
    y: NDArray[np.bool_],
    *,
    max_violating: float | None,
    min_recall: float | None,
    confidence: float,
) -> list[tuple[float, int, int]]:
    """Eligible auto-clear thresholds ``(t, cleared, violating among cleared)``, most items first.

    Eligible: the one-sided upper bound of the violating share among items with ``P <= t`` is at
    most ``max_violating``, and (with ``min_recall``) the upper bound of the share of all violating
    items seen that get cleared is at most ``1 - min_recall``. With neither, nothing is eligible.
    """
    if max_violating is None and min_recall is None:
        return []
    ps, uniq, prefix = _sorted_counts(p, y)
    if ps.size == 0:
        return []
    # violating items seen includes unscored ones: clearing a share of them loses recall too
    total_violating = int(np.count_nonzero(y))
    stop = np.searchsorted(ps, uniq, side="right")
    n = stop
    k = prefix[stop]
    out = []
    for t, ni, ki in zip(uniq.tolist(), n.tolist(), k.tolist()):
        # the point estimate is below the upper bound: skip the exact bound when it already fails
        if max_violating is not None and (
            ki > max_violating * ni or _upper(ki, ni, confidence) > max_violating
        ):
            continue
        if min_recall is not None and (
            total_violating == 0 or ki > (1 - min_recall) * total_violating
            or _upper(ki, total_violating, confidence) > 1 - min_recall
        ):
            continue
        out.append((t, ni, ki))
    return out[::-1]


class SplitStats(BaseModel):
    """What one threshold step did on one split (calibration or validation)."""

    model_config = ConfigDict(extra="forbid")

    seen: int
    """Items that reached the step."""
    unscored: int
    """Of those, items without a score (non-ok outcome or no ``scores``): always escalated."""
    taken: int
    """Items the step auto-decided."""
    share: float | None
    """``taken / seen``."""
    rate: Interval
    """Auto-action: precision (violating share among taken). Auto-clear: violating share among
    taken (the false-negative rate of clearing)."""
    bound: float | None
    """One-sided Clopper-Pearson bound of ``rate`` in the direction of the target: lower bound of
    precision, upper bound of the violating share."""
    violating_seen: int = 0
    """Violating items that reached the step (auto-clear: the recall-loss denominator)."""
    recall_loss: Interval | None = None
    """Auto-clear: share of the violating items seen that were cleared."""
    recall_loss_bound: float | None = None
    """Auto-clear: one-sided upper bound of ``recall_loss``."""


class ThresholdCheck(BaseModel):
    """An auto-action or auto-clear threshold: chosen on calibration, checked on validation."""

    model_config = ConfigDict(extra="forbid")

    decider: str
    kind: str
    side: Literal["auto_action", "auto_clear"]
    threshold: float | None
    """``P(violating)`` cut: auto-action takes ``P >= threshold``, auto-clear ``P <= threshold``;
    null when no threshold is eligible."""
    rule: str
    """The threshold in words, e.g. ``P(hate) >= 0.93``."""
    targets: list[str]
    """What the step must guarantee, e.g. ``precision >= 0.90``."""
    calibration: SplitStats | None
    validation: SplitStats | None
    confirmed: bool
    """True when every bound on validation items meets its target."""
    message: str
    """Plain-language outcome."""
    slice_flags: list[str] = Field(default_factory=list)
    """Slices (validation items) where this step must not take cases although it may overall."""


def _step_stats(
    p: NDArray[np.float64],
    y: NDArray[np.bool_],
    side: str,
    threshold: float | None,
    confidence: float,
) -> SplitStats:
    scored = np.isfinite(p)
    seen = int(p.size)
    if threshold is None:
        taken = np.zeros(seen, dtype=bool)
    elif side == "auto_action":
        taken = scored & (p >= threshold)
    else:
        taken = scored & (p <= threshold)
    n = int(taken.sum())
    k_viol = int((taken & y).sum())
    if side == "auto_action":
        rate = _interval(k_viol, n, confidence)
        bound = _lower(k_viol, n, confidence) if n else None
        return SplitStats(seen=seen, unscored=int((~scored).sum()), taken=n,
                          share=n / seen if seen else None, rate=rate, bound=bound)
    v_seen = int(y.sum())
    return SplitStats(
        seen=seen, unscored=int((~scored).sum()), taken=n, share=n / seen if seen else None,
        rate=_interval(k_viol, n, confidence), bound=_upper(k_viol, n, confidence) if n else None,
        violating_seen=v_seen, recall_loss=_interval(k_viol, v_seen, confidence),
        recall_loss_bound=_upper(k_viol, v_seen, confidence) if v_seen else None,
    )


def _confirmed(stats: SplitStats, side: str, goals: PolicyGoals) -> bool:
    if stats.taken == 0 or stats.bound is None:
        return False
    if side == "auto_action":
        return goals.precision is not None and stats.bound >= goals.precision
    if goals.fn_ceiling is not None and stats.bound > goals.fn_ceiling:
        return False
    if goals.recall is not None:
        if stats.recall_loss_bound is None or stats.recall_loss_bound > 1 - goals.recall:
            return False
    return True


def _p_name(violating: Sequence[str]) -> str:
    return f"P({' or '.join(violating)})" if violating else "P(violating)"


def _step_targets(side: str, goals: PolicyGoals) -> list[str]:
    if side == "auto_action":
        return [f"precision >= {goals.precision:.2f}"] if goals.precision is not None else []
    out = []
    if goals.fn_ceiling is not None:
        out.append(f"violating share of cleared items <= {goals.fn_ceiling:.2f}")
    if goals.recall is not None:
        out.append(f"share of violating items cleared <= {1 - goals.recall:.2f}")
    return out


def tier_label(kind: str, name: str) -> str:
    """``the LLM tier (smollm2)``."""
    return f"the {KIND_NAMES.get(kind, kind)} tier ({name})"


def _check(
    decider: DeciderArrays,
    side: Literal["auto_action", "auto_clear"],
    threshold: float | None,
    cal: tuple[NDArray[np.float64], NDArray[np.bool_]],
    val: tuple[NDArray[np.float64], NDArray[np.bool_]] | None,
    goals: PolicyGoals,
    policy: str,
    violating: Sequence[str],
    best: str = "",
) -> ThresholdCheck:
    """Stats, confirmation and the plain-language message of one threshold step."""
    conf = goals.confidence
    pname = _p_name(violating)
    op = ">=" if side == "auto_action" else "<="
    verb = "auto-action" if side == "auto_action" else "auto-clear"
    who = tier_label(decider.kind, decider.name)
    targets = _step_targets(side, goals)
    cal_stats = _step_stats(*cal, side, threshold, conf)
    val_stats = _step_stats(*val, side, threshold, conf) if val is not None else None
    rule = f"{pname} {op} {threshold:.4g}" if threshold is not None else "none"
    if not targets:
        message = (f"{who} may not {verb} {policy} cases: no "
                   + ("precision target" if side == "auto_action"
                      else "false-negative ceiling or recall target") + " is set")
        confirmed = False
    elif threshold is None:
        message = (f"{who} should {verb} no {policy} cases at this target: no threshold on "
                   f"{pname} meets {' and '.join(targets)} on calibration items with the margin "
                   f"needed to hold on validation{best}")
        confirmed = False
    else:
        confirmed = val_stats is not None and _confirmed(val_stats, side, goals)
        share = val_stats.share if val_stats is not None and val_stats.share is not None else 0.0
        if confirmed and val_stats is not None:
            assert val_stats.bound is not None
            bound_text = (f"precision {val_stats.rate.value:.3f}, lower bound {val_stats.bound:.3f}"
                          if side == "auto_action" else
                          f"violating share {val_stats.rate.value:.3f}, upper bound "
                          f"{val_stats.bound:.3f}")
            message = (f"{who} can {verb} {policy} items with {rule}: {share:.0%} of the items it "
                       f"sees on validation ({bound_text}; {' and '.join(targets)})")
        else:
            if val_stats is None or val_stats.taken == 0:
                why = "it took no validation items, so nothing confirms it"
            elif side == "auto_action":
                why = (f"on validation items its precision lower bound is "
                       f"{val_stats.bound:.3f} < {goals.precision:.2f}")
            else:
                why = "on validation items " + "; ".join(_clear_failures(val_stats, goals))
            message = (f"{who} should {verb} no {policy} cases at this target: {rule} "
                       f"was chosen on calibration items but does not hold on validation ({why})")
    return ThresholdCheck(decider=decider.name, kind=decider.kind, side=side, threshold=threshold,
                          rule=rule, targets=targets, calibration=cal_stats, validation=val_stats,
                          confirmed=confirmed, message=message)


def _clear_failures(stats: SplitStats, goals: PolicyGoals) -> list[str]:
    out = []
    if goals.fn_ceiling is not None and stats.bound is not None and stats.bound > goals.fn_ceiling:
        out.append(f"the violating share's upper bound is {stats.bound:.3f} > {goals.fn_ceiling:.2f}")
    if goals.recall is not None and (stats.recall_loss_bound is None
                                     or stats.recall_loss_bound > 1 - goals.recall):
        lb = stats.recall_loss_bound
        out.append("the share of violating items cleared has upper bound "
                   f"{'–' if lb is None else f'{lb:.3f}'} > {1 - goals.recall:.2f}")
    return out or ["the bounds miss the targets"]


def _best_precision(p: NDArray[np.float64], y: NDArray[np.bool_], conf: float) -> str:
    """The closest any auto-action threshold came to a precision target, for the message."""
    ps, uniq, prefix = _sorted_counts(p, y)
    if ps.size == 0:
        return " (it gave no scores)"
    start = np.searchsorted(ps, uniq, side="left")
    n = ps.size - start
    k = prefix[-1] - prefix[start]
    bounds = [_lower(int(ki), int(ni), conf) for ki, ni in zip(k, n)]
    i = int(np.argmax(bounds))
    return (f" (the best was a precision lower bound of {bounds[i]:.3f}, point {k[i] / n[i]:.3f}, "
            f"at P >= {uniq[i]:.4g} on {int(n[i])} items)")


def _ratio(p_cal: NDArray[np.float64], p_val: NDArray[np.float64]) -> float:
    return max(len(p_cal), 1) / max(len(p_val), 1)


def choose_action_threshold(
    p_cal: NDArray[np.float64], y_cal: NDArray[np.bool_],
    p_val: NDArray[np.float64], y_val: NDArray[np.bool_],
    *, target: float, confidence: float = 0.95, power: float = 0.8,
) -> tuple[float | None, bool]:
    """Auto-action threshold chosen on calibration items and checked on validation items.

    Parameters
    ----------
    p_cal, p_val : arrays of P(violating); nan for items without a score (never taken).
    y_cal, y_val : arrays of bool, True where gold is violating.
    target : float
        Minimum precision (violating share among items with ``P >= threshold``).
    confidence : float, default 0.95
        One-sided level of the Clopper-Pearson lower bound checked on validation items.
    power : float, default 0.8
        Sets the calibration margin (see :func:`selection_confidence`).

    Returns
    -------
    (threshold, confirmed)
        The lowest threshold whose calibration bound meets ``target`` with that margin (None when
        none does), and whether the lower bound on the validation items it takes meets ``target``.
        Only a confirmed threshold may be used: then the true precision is at least ``target``
        with probability ``confidence``.
    """
    level = selection_confidence(confidence, power, _ratio(p_cal, p_val))
    cands = action_candidates(np.asarray(p_cal, float), np.asarray(y_cal, bool),
                              target=target, confidence=level)
    if not cands:
        return None, False
    t = cands[0][0]
    p_val = np.asarray(p_val, float)
    y_val = np.asarray(y_val, bool)
    taken = np.isfinite(p_val) & (p_val >= t)
    n, k = int(taken.sum()), int((taken & y_val).sum())
    return t, bool(n and _lower(k, n, confidence) >= target)


def choose_clear_threshold(
    p_cal: NDArray[np.float64], y_cal: NDArray[np.bool_],
    p_val: NDArray[np.float64], y_val: NDArray[np.bool_],
    *, max_violating: float | None, min_recall: float | None = None,
    confidence: float = 0.95, power: float = 0.8,
) -> tuple[float | None, bool]:
    """Auto-clear threshold chosen on calibration and checked on validation (eligibility as in
    :func:`clear_candidates`, margin as in :func:`choose_action_threshold`); returns
    ``(threshold, confirmed)``."""
    level = selection_confidence(confidence, power, _ratio(p_cal, p_val))
    cands = clear_candidates(np.asarray(p_cal, float), np.asarray(y_cal, bool),
                             max_violating=max_violating, min_recall=min_recall, confidence=level)
    if not cands:
        return None, False
    t = cands[0][0]
    goals = PolicyGoals(None, min_recall, max_violating, {}, (), confidence, 1)
    stats = _step_stats(np.asarray(p_val, float), np.asarray(y_val, bool), "auto_clear", t,
                        confidence)
    return t, _confirmed(stats, "auto_clear", goals)


# =============================================================================================
# cascades
# =============================================================================================


@dataclass(frozen=True)
class Step:
    """An automated tier: auto-action at ``P >= action``, auto-clear at ``P <= clear``."""

    decider: str
    action: float | None = None
    clear: float | None = None


@dataclass(frozen=True)
class Cascade:
    """Automated tiers in order, then the tier that decides everything left."""

    steps: tuple[Step, ...]
    final: str

    @property
    def tiers(self) -> list[str]:
        return [s.decider for s in self.steps] + [self.final]

    @property
    def name(self) -> str:
        if not self.steps:
            return f"all {self.final}"
        parts = []
        for s in self.steps:
            what = "+".join(w for w, t in (("action", s.action), ("clear", s.clear)) if t is not None)
            parts.append(f"{s.decider} ({what})")
        return " → ".join([*parts, self.final])


@dataclass
class Simulation:
    """Per item: who decided it, how, with which label, and what it cost."""

    pred: NDArray[np.intp]
    """Final label code, or ``L + j`` when the last tier's decision was not ok (undecided)."""
    gold: NDArray[np.intp]
    """Gold of the tier that decided the item."""
    tier: NDArray[np.intp]
    """Index of the deciding tier in ``cascade.tiers``."""
    how: NDArray[np.int8]
    """0 auto-action, 1 auto-clear, 2 decided by the last tier, 3 last tier not ok (undecided)."""
    cost: NDArray[np.float64]
    seconds: NDArray[np.float64]
    site: NDArray[np.object_]
    reached: list[NDArray[np.bool_]]
    """Per tier, the items that reached it."""


def simulate(data: PolicyData, cascade: Cascade) -> Simulation:
    """Run ``cascade`` over every item of ``data``."""
    n = data.n
    n_lab = len(data.labels)
    remaining = np.ones(n, dtype=bool)
    pred = np.full(n, -1, dtype=np.intp)
    gold = np.full(n, -1, dtype=np.intp)
    tier = np.full(n, -1, dtype=np.intp)
    how = np.full(n, -1, dtype=np.int8)
    cost = np.zeros(n)
    seconds = np.zeros(n)
    site = np.empty(n, dtype=object)
    reached = []
    for j, step in enumerate(cascade.steps):
        d = data.deciders[step.decider]
        reached.append(remaining.copy())
        cost[remaining] += d.cost[remaining]
        scored = remaining & np.isfinite(d.p)
        act = scored & (d.p >= step.action) if step.action is not None else np.zeros(n, bool)
        clr = (scored & (d.p <= step.clear) & ~act) if step.clear is not None else np.zeros(n, bool)
        pred[act], pred[clr] = d.act[act], d.clear[clr]
        took = act | clr
        gold[took], tier[took] = d.gold[took], j
        how[act], how[clr] = 0, 1
        remaining &= ~took
    d = data.deciders[cascade.final]
    reached.append(remaining.copy())
    cost[remaining] += d.cost[remaining]
    seconds[remaining] = d.seconds[remaining]
    site[remaining] = d.site[remaining]
    pred[remaining], gold[remaining] = d.pred[remaining], d.gold[remaining]
    tier[remaining] = len(cascade.steps)
    how[remaining] = np.where(d.pred[remaining] < n_lab, 2, 3)
    return Simulation(pred, gold, tier, how, cost, seconds, site, reached)


def _simulate_lean(data: PolicyData, cascade: Cascade) -> Simulation:
    """:func:`simulate` for the search: only labels, gold and cost are filled in (fast)."""
    final = data.deciders[cascade.final]
    remaining = np.ones(data.n, dtype=bool)
    pred, gold = final.pred, final.gold
    cost = np.zeros(data.n)
    for step in cascade.steps:
        d = data.deciders[step.decider]
        cost += d.cost * remaining
        took = np.zeros(data.n, dtype=bool)
        if step.action is not None:
            act = remaining & (d.p >= step.action)  # nan (no score) compares False
            pred, took = np.where(act, d.act, pred), act
        if step.clear is not None:
            clr = remaining & (d.p <= step.clear) & ~took
            pred, took = np.where(clr, d.clear, pred), took | clr
        gold = np.where(took, d.gold, gold)
        remaining = remaining & ~took
    cost += final.cost * remaining
    empty = np.empty(0)
    return Simulation(pred, gold, empty.astype(np.intp), empty.astype(np.int8), cost, empty,
                      empty.astype(object), [])


@dataclass
class _Counts:
    """Confusion counts of a simulation over a subset of items."""

    confusion: NDArray[np.int64]
    viol_tp: int
    viol_pred: int
    viol_gold: int

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def precision(self) -> float | None:
        return self.viol_tp / self.viol_pred if self.viol_pred else None

    @property
    def recall(self) -> float | None:
        return self.viol_tp / self.viol_gold if self.viol_gold else None

    @property
    def f1(self) -> float:
        den = self.viol_pred + self.viol_gold
        return 2 * self.viol_tp / den if den else 0.0


def _counts(data: PolicyData, sim: Simulation, mask: NDArray[np.bool_] | None = None) -> _Counts:
    n_lab = len(data.labels)
    cols = n_lab + len(OUTCOMES_NOT_OK)
    pred, gold = (sim.pred, sim.gold) if mask is None else (sim.pred[mask], sim.gold[mask])
    cm = np.bincount(gold * cols + pred, minlength=n_lab * cols).reshape(n_lab, cols)
    pv = data.is_violating(pred)
    gv = data.is_violating(gold)
    return _Counts(cm.astype(np.int64), int((pv & gv).sum()), int(pv.sum()), int(gv.sum()))


class TargetCheck(BaseModel):
    """One target checked on one split."""

    model_config = ConfigDict(extra="forbid")

    target: str
    """e.g. ``precision of violating calls >= 0.90``."""
    scope: str
    """``end to end`` or ``slice <key>=<value>``."""
    required: float
    value: Interval
    met: bool | None
    """Point estimate reaches the target; null when there are too few items to judge."""
    confirmed: bool
    """The one-sided bound (at the plan's confidence) also reaches it."""


@dataclass(frozen=True)
class _Target:
    """One target's counts on one split: ``k`` of ``n`` (e.g. true positives of calls)."""

    target: str
    scope: str
    required: float
    k: int
    n: int
    judged: bool = True

    @property
    def met(self) -> bool | None:
        return None if not self.judged else bool(self.n and self.k / self.n >= self.required - 1e-12)

    @property
    def shortfall(self) -> float:
        return max(0.0, self.required - (self.k / self.n if self.n else 0.0)) if self.met is False \
            else 0.0


def _targets(
    data: PolicyData, sim: Simulation, goals: PolicyGoals,
    slices: dict[tuple[str, str], NDArray[np.bool_]] | None = None,
    counts: _Counts | None = None,
) -> list[_Target]:
    """End-to-end (and slice) targets with their counts; met when the estimate reaches them."""
    out: list[_Target] = []
    c = counts if counts is not None else _counts(data, sim)
    if goals.precision is not None:
        out.append(_Target(f"precision of violating calls >= {goals.precision:.2f}", "end to end",
                           goals.precision, c.viol_tp, c.viol_pred))
    if goals.recall is not None:
        out.append(_Target(f"recall of violating items >= {goals.recall:.2f}", "end to end",
                           goals.recall, c.viol_tp, c.viol_gold))
    for label, lt in goals.labels.items():
        if label not in data.labels:
            continue
        i = data.labels.index(label)
        tp = int(c.confusion[i, i])
        if lt.precision is not None:
            out.append(_Target(f"precision of {label} >= {lt.precision:.2f}", "end to end",
                               lt.precision, tp, int(c.confusion[:, i].sum())))
        if lt.recall is not None:
            out.append(_Target(f"recall of {label} >= {lt.recall:.2f}", "end to end", lt.recall,
                               tp, int(c.confusion[i].sum())))
    if goals.slices:
        masks = slices if slices is not None else data.slice_masks(sorted({s.key for s in goals.slices}))
        for st in goals.slices:
            for (key, value), mask in masks.items():
                if key != st.key or (st.value is not None and value != st.value):
                    continue
                sc = _counts(data, sim, mask)
                judged = int(mask.sum()) >= goals.min_slice_items
                scope = f"slice {key}={value}"
                if st.precision_target is not None:
                    out.append(_Target(f"precision of violating calls >= {st.precision_target:.2f}",
                                       scope, st.precision_target, sc.viol_tp, sc.viol_pred, judged))
                if st.recall_target is not None:
                    out.append(_Target(f"recall of violating items >= {st.recall_target:.2f}", scope,
                                       st.recall_target, sc.viol_tp, sc.viol_gold, judged))
    return out


def _target_checks(data: PolicyData, sim: Simulation, goals: PolicyGoals) -> list[TargetCheck]:
    """The targets as reported: with intervals and whether the one-sided bound confirms them."""
    conf = goals.confidence
    return [TargetCheck(target=t.target, scope=t.scope, required=t.required,
                        value=_interval(t.k, t.n, conf), met=t.met,
                        confirmed=bool(t.n and _lower(t.k, t.n, conf) >= t.required))
            for t in _targets(data, sim, goals)]


def _meets(checks: Sequence[TargetCheck] | Sequence[_Target]) -> bool:
    return all(c.met is not False for c in checks)


def _shortfall(checks: Sequence[TargetCheck] | Sequence[_Target]) -> tuple[int, float]:
    missed = [c for c in checks if c.met is False]
    total = 0.0
    for c in missed:
        total += c.shortfall if isinstance(c, _Target) else c.required - (c.value.value or 0.0)
    return len(missed), total


# =============================================================================================
# evaluation models
# =============================================================================================


class TierShare(BaseModel):
    """How much of the traffic one tier sees and decides."""

    model_config = ConfigDict(extra="forbid")

    decider: str
    kind: str
    role: Literal["automated", "last"]
    seen: float
    """Share of all items that reach this tier (each costs this tier's decision)."""
    decided: Interval
    """Share of all items this tier decides (auto-action + auto-clear, or all it sees if last)."""
    auto_action: float | None = None
    """Share of all items auto-actioned here."""
    auto_clear: float | None = None
    """Share of all items auto-cleared here."""
    escalated_unscored: int = 0
    """Items escalated because the decision had no score (non-ok outcome or no ``scores``)."""
    undecided: int = 0
    """Last tier: items whose decision was not ok (invalid, refusal, error) — left undecided."""


class PlanMetrics(BaseModel):
    """A cascade's end-to-end quality, shares and cost on one split."""

    model_config = ConfigDict(extra="forbid")

    n: int
    """Items evaluated."""
    precision: dict[str, Interval]
    """Per label: share of items given the label whose gold is that label."""
    recall: dict[str, Interval]
    """Per label: share of items with that gold label given it (undecided items are misses)."""
    violating_precision: Interval
    """Precision of violating calls (any violating label for gold in any violating label)."""
    violating_recall: Interval
    violating_f1: float
    accuracy: Interval
    prevalence: dict[str, float]
    """Per label: share of items whose gold is that label."""
    called: dict[str, float]
    """Per label: share of items the plan gave that label."""
    violating_prevalence: float
    """Share of items whose gold is a violating label."""
    violating_called: float
    """Share of items the plan gave a violating label (what auto-action and reviewers action)."""
    tiers: list[TierShare]
    undecided: int
    """Items the last tier could not decide (its decision was not ok)."""
    cost_per_decision_usd: float
    """Mean over items of the summed cost of every tier that looked at the item."""
    cost_per_day_usd: float
    human_hours_per_day: dict[str, float | None]
    """Handling hours per day per site (``total`` too); null when handling times are unknown."""


def _metrics(data: PolicyData, cascade: Cascade, sim: Simulation, confidence: float,
             daily_volume: int) -> PlanMetrics:
    c = _counts(data, sim)
    n_lab = len(data.labels)
    cm = c.confusion
    precision = {lab: _interval(int(cm[i, i]), int(cm[:, i].sum()), confidence)
                 for i, lab in enumerate(data.labels)}
    recall = {lab: _interval(int(cm[i, i]), int(cm[i].sum()), confidence)
              for i, lab in enumerate(data.labels)}
    n = data.n
    tiers = []
    for j, name in enumerate(cascade.tiers):
        d = data.deciders[name]
        last = j == len(cascade.steps)
        mine = sim.tier == j
        reached = sim.reached[j]
        tiers.append(TierShare(
            decider=name, kind=d.kind, role="last" if last else "automated",
            seen=float(reached.sum() / n) if n else 0.0,
            decided=_interval(int(mine.sum()), n, confidence),
            auto_action=None if last else (float((mine & (sim.how == 0)).sum() / n) if n else 0.0),
            auto_clear=None if last else (float((mine & (sim.how == 1)).sum() / n) if n else 0.0),
            escalated_unscored=0 if last else int((reached & ~np.isfinite(d.p)).sum()),
            undecided=int((mine & (sim.how == 3)).sum()) if last else 0,
        ))
    cost = float(sim.cost.mean()) if n else 0.0
    hours: dict[str, float | None] = {}
    human = sim.site != None  # noqa: E711 - elementwise on an object array
    if n and human.any():
        for s in sorted({str(x) for x in sim.site[human]}):
            secs = sim.seconds[sim.site == s]
            hours[s] = None if np.isnan(secs).any() else float(secs.sum() / n * daily_volume / 3600)
        known = [h for h in hours.values() if h is not None]
        hours["total"] = float(sum(known)) if len(known) == len(hours) else None
    return PlanMetrics(
        n=n, precision=precision, recall=recall,
        violating_precision=_interval(c.viol_tp, c.viol_pred, confidence),
        violating_recall=_interval(c.viol_tp, c.viol_gold, confidence),
        violating_f1=c.f1,
        accuracy=_interval(int(np.trace(cm[:, :n_lab])), n, confidence),
        prevalence={lab: float(cm[i].sum() / n) if n else 0.0 for i, lab in enumerate(data.labels)},
        called={lab: float(cm[:, i].sum() / n) if n else 0.0 for i, lab in enumerate(data.labels)},
        violating_prevalence=c.viol_gold / n if n else 0.0,
        violating_called=c.viol_pred / n if n else 0.0,
        tiers=tiers, undecided=int((sim.how == 3).sum()),
        cost_per_decision_usd=cost, cost_per_day_usd=cost * daily_volume,
        human_hours_per_day=hours,
    )


def evaluate_cascade(
    data: PolicyData, cascade: Cascade, goals: PolicyGoals, *, daily_volume: int = 10_000
) -> tuple[PlanMetrics, list[TargetCheck]]:
    """End-to-end quality, tier shares, cost and target checks of ``cascade`` on ``data``."""
    sim = simulate(data, cascade)
    return (_metrics(data, cascade, sim, goals.confidence, daily_volume),
            _target_checks(data, sim, goals))


# =============================================================================================
# search
# =============================================================================================


def _spread(cands: list[tuple[float, int, int]], points: int) -> list[float]:
    """Up to ``points`` thresholds from eligible candidates (ordered most items first), always
    including the one that takes the most items."""
    if not cands or points <= 0:
        return []
    idx = sorted({int(round(x)) for x in np.linspace(0, len(cands) - 1, min(points, len(cands)))})
    return [cands[i][0] for i in idx]


def _step_options(
    data: PolicyData, name: str, remaining: NDArray[np.bool_], goals: PolicyGoals, points: int
) -> tuple[list[float], list[float]]:
    d = data.deciders[name]
    p = d.p[remaining]
    y = data.is_violating(d.gold[remaining])
    acts = []
    if goals.precision is not None:
        acts = _spread(action_candidates(p, y, target=goals.precision,
                                         confidence=goals.threshold_selection_confidence), points)
    clears = _spread(clear_candidates(p, y, max_violating=goals.fn_ceiling, min_recall=goals.recall,
                                      confidence=goals.threshold_selection_confidence), points)
    return acts, clears


def enumerate_cascades(
    data: PolicyData, goals: PolicyGoals, *, max_automated_tiers: int = 2, grid_points: int = 6
) -> Iterator[Cascade]:
    """Every cascade worth trying on ``data`` (calibration items): baselines (one decider decides
    everything), then every order of up to ``max_automated_tiers`` scored machine tiers with
    eligible thresholds calibrated on the items that reach each tier, before every last tier."""
    names = list(data.deciders)
    scored = [n for n in names if data.deciders[n].scored]
    for final in names:
        yield Cascade((), final)
    for depth in range(1, max_automated_tiers + 1):
        for seq in itertools.permutations(scored, depth):
            finals = [f for f in names if f not in seq]
            for steps in _step_combos(data, goals, seq, grid_points):
                for final in finals:
                    yield Cascade(steps, final)


def _step_combos(
    data: PolicyData, goals: PolicyGoals, seq: Sequence[str], points: int
) -> Iterator[tuple[Step, ...]]:
    def rec(j: int, remaining: NDArray[np.bool_], steps: tuple[Step, ...]) -> Iterator[tuple[Step, ...]]:
        if j == len(seq):
            yield steps
            return
        d = data.deciders[seq[j]]
        acts, clears = _step_options(data, seq[j], remaining, goals, points)
        finite = np.isfinite(d.p)
        for a in [None, *acts]:
            for c in [None, *clears]:
                if a is None and c is None:
                    continue  # a tier that decides nothing only adds cost
                if a is not None and c is not None and c >= a:
                    continue
                took = np.zeros(data.n, dtype=bool)
                if a is not None:
                    took |= finite & (d.p >= a)
                if c is not None:
                    took |= finite & (d.p <= c)
                yield from rec(j + 1, remaining & ~took, (*steps, Step(seq[j], a, c)))

    yield from rec(0, np.ones(data.n, dtype=bool), ())


@dataclass
class _Candidate:
    cascade: Cascade
    cost: float
    f1: float
    precision: float | None
    recall: float | None
    checks: list[_Target]

    @property
    def meets(self) -> bool:
        return _meets(self.checks)


def _search(data: PolicyData, goals: PolicyGoals, max_tiers: int, points: int) -> list[_Candidate]:
    masks = data.slice_masks(sorted({s.key for s in goals.slices})) if goals.slices else None
    out = []
    for cascade in enumerate_cascades(data, goals, max_automated_tiers=max_tiers, grid_points=points):
        sim = _simulate_lean(data, cascade)
        c = _counts(data, sim)
        out.append(_Candidate(cascade, float(sim.cost.mean()) if data.n else 0.0, c.f1,
                              c.precision, c.recall,
                              _targets(data, sim, goals, masks, c)))
    return out


def _cost_key(c: _Candidate) -> tuple[float, float, int]:
    return (round(c.cost, 12), -c.f1, len(c.cascade.steps))


def pareto_frontier(cands: Sequence[_Candidate]) -> list[_Candidate]:
    """Candidates no other candidate beats on both cost (lower) and violating F1 (higher)."""
    front: list[_Candidate] = []
    best = -1.0
    for c in sorted(cands, key=_cost_key):
        if c.f1 > best + 1e-12:
            front.append(c)
            best = c.f1
    return front


# =============================================================================================
# the plan
# =============================================================================================


class FrontierPoint(BaseModel):
    """A cascade on the cost/quality frontier (found on calibration, shown on both splits)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    cost_per_decision_usd: float
    """On calibration items."""
    violating_f1: float
    """On calibration items."""
    violating_precision: float | None
    violating_recall: float | None
    meets_targets_on_calibration: bool
    validation: PlanMetrics


class PlanTier(BaseModel):
    """One tier of a plan: an automated tier with its thresholds, or the last tier."""

    model_config = ConfigDict(extra="forbid")

    position: int
    decider: str
    kind: str
    role: Literal["automated", "last"]
    auto_action: ThresholdCheck | None = None
    auto_clear: ThresholdCheck | None = None
    instruction: str
    """What the tier does, in words."""


class Plan(BaseModel):
    """A cascade with the evidence it is signed on."""

    model_config = ConfigDict(extra="forbid")

    name: str
    tiers: list[PlanTier]
    expected: PlanMetrics
    """On validation items: what to expect in production."""
    calibration: PlanMetrics
    """On calibration items (where thresholds were chosen; optimistic)."""
    target_checks: list[TargetCheck]
    """End-to-end targets on validation items."""
    steps_confirmed: bool
    """Every automated threshold holds on validation items."""
    meets_targets: bool
    """Every end-to-end target is met on validation items and every step is confirmed."""


class SliceRow(BaseModel):
    """The recommended plan within one slice (validation items)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    value: str
    n: int
    automated_share: Interval
    """Share of the slice's items decided by automated tiers."""
    violating_precision: Interval
    violating_recall: Interval
    steps: list[dict[str, Any]]
    """Per automated step: items taken in the slice and its precision / violating share there."""
    flags: list[str]
    """Where a tier must not take the slice's cases although it may overall."""
    judged: bool
    """Enough items (``min_slice_items``) to judge."""


class QaSample(BaseModel):
    """Items QA must label each week to confirm one target."""

    model_config = ConfigDict(extra="forbid")

    check: str
    """What is measured, e.g. ``precision of tfidf auto-actions``."""
    target: str
    sample_from: str
    """Which stream to draw the sample from."""
    expected: float | None
    """The plan's validation estimate the sample size is planned for."""
    items_per_week: int | None
    """Items to sample and label per week; null when the estimate does not beat the target."""
    stream_items_per_week: int
    """Items in that stream per week at the daily volume."""
    feasible: bool
    """The stream has at least that many items a week."""
    note: str


class QaRequest(BaseModel):
    """The QA sampling that confirms the plan's targets after launch."""

    model_config = ConfigDict(extra="forbid")

    confidence: float
    power: float
    samples: list[QaSample]
    items_per_week: int
    """Sum over the samples (an upper bound: one labeled item can serve several checks)."""


class PolicyRouting(BaseModel):
    """The routing recommendation for one policy, with its evidence."""

    model_config = ConfigDict(extra="forbid")

    policy: str
    labels: list[str]
    violating: list[str]
    status: Literal["plan_meets_targets", "no_plan_meets_targets"]
    """``plan_meets_targets``: the recommended plan meets every target on validation items (the
    cheapest plan chosen on calibration items, or else the cheapest single-decider plan).
    ``no_plan_meets_targets``: nothing tried meets every target; the closest plan is shown."""
    recommendation: str
    """The recommendation in plain words."""
    items: dict[str, Any]
    """Items used, per split, and left out by reason."""
    targets: dict[str, Any]
    """The targets resolved for this policy."""
    plan: Plan
    baselines: list[Plan]
    """Each decider deciding everything (all-human, all-LLM, ...), on validation items."""
    thresholds: list[ThresholdCheck]
    """Each scored decider as the first tier: its auto-action and auto-clear thresholds."""
    frontier: list[FrontierPoint]
    slices: list[SliceRow]
    qa_request: QaRequest
    tier_verdicts: dict[str, str] = Field(default_factory=dict)
    """Per scored decider, in one sentence: which cases it may take as the first tier."""
    notes: list[str] = Field(default_factory=list)
    searched: int = 0
    """Cascades evaluated on calibration items."""


class RoutingPlan(BaseModel):
    """``routing.yaml``: the tier-routing plan of a run, per policy, for sign-off."""

    schema_version: int = SCHEMA_VERSION
    """Layout version of this file."""
    run_id: str
    run_dir: str
    created_at: str
    status: Literal["plan_meets_targets", "no_plan_meets_targets"]
    """Worst status over the policies."""
    targets: dict[str, Any]
    """The targets as given (RoutingTargets)."""
    confidence: float
    seed: int
    split: dict[str, Any]
    """How items were split, and that every signed number comes from the validation split."""
    daily_volume: int
    policies: list[PolicyRouting]


# ---------------------------------------------------------------------------------------------


def _instruction(step: Step, data: PolicyData) -> str:
    pname = _p_name(data.violating)
    parts = []
    if step.action is not None:
        parts.append(f"auto-action items with {pname} >= {step.action:.4g}")
    if step.clear is not None:
        parts.append(f"auto-clear items with {pname} <= {step.clear:.4g}")
    return f"{' and '.join(parts)}; escalate everything else (and every decision without a score)"


def _build_plan(
    cal: PolicyData, val: PolicyData, cascade: Cascade, goals: PolicyGoals, daily_volume: int
) -> Plan:
    sim_c, sim_v = simulate(cal, cascade), simulate(val, cascade)
    tiers: list[PlanTier] = []
    steps_ok = True
    for j, step in enumerate(cascade.steps):
        dc, dv = cal.deciders[step.decider], val.deciders[step.decider]
        rc, rv = sim_c.reached[j], sim_v.reached[j]
        yc = cal.is_violating(dc.gold[rc])
        yv = val.is_violating(dv.gold[rv])
        checks = {}
        for side, t in (("auto_action", step.action), ("auto_clear", step.clear)):
            if t is None:
                continue
            chk = _check(dc, side, t, (dc.p[rc], yc), (dv.p[rv], yv), goals, cal.policy,
                         cal.violating)  # type: ignore[arg-type]
            steps_ok &= chk.confirmed
            checks[side] = chk
        tiers.append(PlanTier(position=j + 1, decider=step.decider, kind=dc.kind, role="automated",
                              auto_action=checks.get("auto_action"),
                              auto_clear=checks.get("auto_clear"),
                              instruction=_instruction(step, cal)))
    last = cal.deciders[cascade.final]
    tiers.append(PlanTier(
        position=len(cascade.steps) + 1, decider=cascade.final, kind=last.kind, role="last",
        instruction=("decide every item" if not cascade.steps else "decide every item escalated to it")
        + ("" if last.kind in HUMAN_KINDS else " with its own label"),
    ))
    checks_v = _target_checks(val, sim_v, goals)
    return Plan(
        name=cascade.name, tiers=tiers,
        expected=_metrics(val, cascade, sim_v, goals.confidence, daily_volume),
        calibration=_metrics(cal, cascade, sim_c, goals.confidence, daily_volume),
        target_checks=checks_v, steps_confirmed=steps_ok,
        meets_targets=steps_ok and _meets(checks_v),
    )


def _standalone_thresholds(cal: PolicyData, val: PolicyData, goals: PolicyGoals) -> list[ThresholdCheck]:
    out = []
    for name, dc in cal.deciders.items():
        if not dc.scored:
            continue
        dv = val.deciders[name]
        yc, yv = cal.is_violating(dc.gold), val.is_violating(dv.gold)
        acts = (action_candidates(dc.p, yc, target=goals.precision,
                                  confidence=goals.threshold_selection_confidence)
                if goals.precision is not None else [])
        best = _best_precision(dc.p, yc, goals.confidence) if goals.precision is not None else ""
        out.append(_check(dc, "auto_action", acts[0][0] if acts else None, (dc.p, yc),
                          (dv.p, yv), goals, cal.policy, cal.violating, best))
        clears = clear_candidates(dc.p, yc, max_violating=goals.fn_ceiling, min_recall=goals.recall,
                                  confidence=goals.threshold_selection_confidence)
        out.append(_check(dc, "auto_clear", clears[0][0] if clears else None, (dc.p, yc),
                          (dv.p, yv), goals, cal.policy, cal.violating))
    return out


def _slice_flag(who: str, side: str, key: str, value: str, taken: int, violating: int,
                goals: PolicyGoals) -> str | None:
    """The flag for a step in one slice, when enough items were taken there and the step's rate
    misses its target (the overall step holds)."""
    if taken < goals.min_slice_items:
        return None
    rate = violating / taken
    if side == "auto_action" and goals.precision is not None and rate < goals.precision:
        return (f"{who} must not auto-action {key}={value} cases: precision there is {rate:.2f} on "
                f"{taken} validation items, below {goals.precision:.2f}; route this slice past it")
    if side == "auto_clear" and goals.fn_ceiling is not None and rate > goals.fn_ceiling:
        return (f"{who} must not auto-clear {key}={value} cases: {rate:.2f} of the {taken} "
                f"validation items it cleared there are violating, above {goals.fn_ceiling:.2f}; "
                "route this slice past it")
    return None


def _standalone_slice_flags(checks: Sequence[ThresholdCheck], val: PolicyData,
                            masks: dict[tuple[str, str], NDArray[np.bool_]],
                            goals: PolicyGoals) -> None:
    """Add slice flags to every confirmed first-tier threshold."""
    for chk in checks:
        if not chk.confirmed or chk.threshold is None:
            continue
        d = val.deciders[chk.decider]
        scored = np.isfinite(d.p)
        took = scored & ((d.p >= chk.threshold) if chk.side == "auto_action"
                         else (d.p <= chk.threshold))
        viol = val.is_violating(d.gold)
        for (key, value), mask in masks.items():
            t = took & mask
            flag = _slice_flag(tier_label(d.kind, d.name), chk.side, key, value, int(t.sum()),
                               int((t & viol).sum()), goals)
            if flag:
                chk.slice_flags.append(flag)


def _slices(val: PolicyData, cascade: Cascade, keys: Sequence[str], goals: PolicyGoals) -> list[SliceRow]:
    if not keys or not val.n:
        return []
    sim = simulate(val, cascade)
    conf = goals.confidence
    out = []
    for (key, value), mask in val.slice_masks(keys).items():
        n = int(mask.sum())
        judged = n >= goals.min_slice_items
        c = _counts(val, sim, mask)
        steps, flags = [], []
        for j, step in enumerate(cascade.steps):
            d = val.deciders[step.decider]
            for side, how in (("auto_action", 0), ("auto_clear", 1)):
                if (step.action if side == "auto_action" else step.clear) is None:
                    continue
                took = mask & (sim.tier == j) & (sim.how == how)
                k_viol = int((took & val.is_violating(d.gold)).sum())
                m = int(took.sum())
                rate = _interval(k_viol, m, conf)
                steps.append({"decider": step.decider, "side": side, "taken": m,
                              "share_of_slice": m / n if n else None,
                              ("precision" if side == "auto_action" else "violating_share"):
                                  rate.value})
                flag = _slice_flag(tier_label(d.kind, step.decider), side, key, value, m, k_viol,
                                   goals)
                if flag:
                    flags.append(flag)
        auto = int((mask & (sim.tier < len(cascade.steps))).sum())
        out.append(SliceRow(key=key, value=value, n=n, automated_share=_interval(auto, n, conf),
                            violating_precision=_interval(c.viol_tp, c.viol_pred, conf),
                            violating_recall=_interval(c.viol_tp, c.viol_gold, conf),
                            steps=steps, flags=flags, judged=judged))
    return out


def _qa_request(plan: Plan, val: PolicyData, goals: PolicyGoals, targets: RoutingTargets) -> QaRequest:
    conf, power = goals.confidence, targets.qa_power
    weekly = targets.daily_volume * 7
    samples: list[QaSample] = []

    def add(check: str, target: str, required: float, expected: float | None, sample_from: str,
            share: float, prevalence: float = 1.0) -> None:
        stream = int(round(weekly * share))
        if expected is None or expected <= required:
            samples.append(QaSample(
                check=check, target=target, sample_from=sample_from, expected=expected,
                items_per_week=None, stream_items_per_week=stream, feasible=False,
                note="cannot be confirmed: the plan's estimate does not beat the target"))
            return
        n = samples_to_confirm_at_least(required, expected, confidence=conf, power=power)
        items = math.ceil(n / prevalence) if prevalence > 0 else None
        note = (f"{n} labeled items confirm the target with {conf:.0%} confidence and "
                f"{power:.0%} power")
        if prevalence < 1.0 and items is not None:
            note += f"; about {prevalence:.0%} of sampled items are in scope, so sample {items}"
        feasible = items is not None and items <= stream
        if not feasible:
            weeks = math.ceil((items or 0) / max(stream, 1))
            note += f"; the stream has only {stream} items a week: pool {weeks} weeks"
        samples.append(QaSample(check=check, target=target, sample_from=sample_from,
                                expected=expected, items_per_week=items,
                                stream_items_per_week=stream, feasible=feasible, note=note))

    exp = plan.expected
    for tier in plan.tiers:
        share = next(t for t in exp.tiers if t.decider == tier.decider)
        if tier.auto_action is not None and goals.precision is not None:
            v = tier.auto_action.validation
            add(f"precision of {tier.decider} auto-actions", f">= {goals.precision:.2f}",
                goals.precision, v.rate.value if v else None,
                f"items {tier.decider} auto-actioned", share.auto_action or 0.0)
        if tier.auto_clear is not None:
            v = tier.auto_clear.validation
            if goals.fn_ceiling is not None:
                add(f"non-violating share of {tier.decider} auto-clears",
                    f">= {1 - goals.fn_ceiling:.2f} (violating <= {goals.fn_ceiling:.2f})",
                    1 - goals.fn_ceiling,
                    None if v is None or v.rate.value is None else 1 - v.rate.value,
                    f"items {tier.decider} auto-cleared", share.auto_clear or 0.0)
    if goals.precision is not None:
        add("precision of violating calls, end to end", f">= {goals.precision:.2f}",
            goals.precision, exp.violating_precision.value, "all items the plan actioned",
            exp.violating_called)
    if goals.recall is not None:
        add("recall of violating items, end to end", f">= {goals.recall:.2f}", goals.recall,
            exp.violating_recall.value, "a random sample of all items", 1.0,
            exp.violating_prevalence)
    for label, lt in goals.labels.items():
        if label not in exp.precision:
            continue
        if lt.precision is not None:
            add(f"precision of {label}", f">= {lt.precision:.2f}", lt.precision,
                exp.precision[label].value, f"items the plan labeled {label}",
                exp.called.get(label, 0.0))
        if lt.recall is not None:
            add(f"recall of {label}", f">= {lt.recall:.2f}", lt.recall, exp.recall[label].value,
                "a random sample of all items", 1.0, exp.prevalence.get(label, 0.0))
    acc = exp.accuracy.value
    if acc is not None:
        m = binomial_sample_size(acc, targets.qa_margin, confidence=conf)
        samples.append(QaSample(
            check="accuracy, end to end", target=f"estimate within ±{targets.qa_margin:.2f}",
            sample_from="a random sample of all items", expected=acc, items_per_week=m,
            stream_items_per_week=weekly, feasible=m <= weekly,
            note=f"{m} labeled items estimate accuracy within ±{targets.qa_margin:.2f} at "
                 f"{conf:.0%} confidence"))
    total = sum(s.items_per_week or 0 for s in samples)
    return QaRequest(confidence=conf, power=power, samples=samples, items_per_week=total)


# =============================================================================================
# recommendation
# =============================================================================================


def _fmt_iv(iv: Interval) -> str:
    if iv.value is None:
        return "undefined (no items)"
    return f"{iv.value:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def _money(x: float) -> str:
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def _cost_sentence(m: PlanMetrics, daily_volume: int) -> str:
    text = (f"{_money(m.cost_per_decision_usd)} per item, {_money(m.cost_per_day_usd)} per day at "
            f"{daily_volume:,} items a day")
    hours = {k: v for k, v in m.human_hours_per_day.items() if k != "total"}
    total = m.human_hours_per_day.get("total")
    if hours:
        if total is None:
            text += "; human handling time unknown"
        else:
            sites = [s for s in hours if s != UNKNOWN_SITE]
            per_site = ", ".join(f"{s} {hours[s]:,.1f} h" for s in sites)
            text += f"; {total:,.1f} human hours a day" + (f" ({per_site})" if per_site else "")
    return text


def _quality_sentence(m: PlanMetrics, violating: Sequence[str]) -> str:
    what = " or ".join(violating)
    return (f"precision of {what} calls {_fmt_iv(m.violating_precision)}, recall "
            f"{_fmt_iv(m.violating_recall)}")


def _plan_sentence(plan: Plan, data: PolicyData) -> str:
    if len(plan.tiers) == 1:
        t = plan.tiers[0]
        who = "human review" if t.kind in HUMAN_KINDS else tier_label(t.kind, t.decider)
        return f"send every {data.policy} item to {who} ({t.decider})" if t.kind in HUMAN_KINDS \
            else f"let {who} decide every {data.policy} item"
    parts = []
    for t in plan.tiers:
        share = next(s for s in plan.expected.tiers if s.decider == t.decider)
        if t.role == "automated":
            bits = []
            if t.auto_action is not None:
                bits.append(f"auto-actions {t.auto_action.rule} (~{share.auto_action or 0:.0%} of items)")
            if t.auto_clear is not None:
                bits.append(f"auto-clears {t.auto_clear.rule} (~{share.auto_clear or 0:.0%} of items)")
            parts.append(f"{tier_label(t.kind, t.decider)} {' and '.join(bits)}")
        else:
            who = "human review" if t.kind in HUMAN_KINDS else tier_label(t.kind, t.decider)
            parts.append(f"{who} ({t.decider}) decides the remaining ~{share.decided.value or 0:.0%}"
                         if t.kind in HUMAN_KINDS else
                         f"{who} decides the remaining ~{share.decided.value or 0:.0%}")
    return "; then ".join(parts)


def _failed_targets(plan: Plan) -> list[str]:
    out = [f"{c.target} ({c.scope}): {_fmt_iv(c.value)}" for c in plan.target_checks if c.met is False]
    for t in plan.tiers:
        for chk in (t.auto_action, t.auto_clear):
            if chk is not None and not chk.confirmed:
                out.append(chk.message)
    return out


def route_policy(
    data: PolicyData,
    targets: RoutingTargets,
    *,
    slice_keys: Sequence[str] = (),
) -> PolicyRouting:
    """Search cascades for one policy and recommend the cheapest plan that meets the targets.

    Thresholds and the plan are chosen on the calibration split; everything reported as expected
    comes from the validation split (see the module docstring).
    """
    goals = resolve_goals(targets, data.policy)
    cal_mask = calibration_mask(data.item_ids, share=targets.calibration_share, seed=targets.seed)
    cal = data.take(np.flatnonzero(cal_mask))
    val = data.take(np.flatnonzero(~cal_mask))
    level = selection_confidence(goals.confidence, targets.selection_power,
                                 max(cal.n, 1) / max(val.n, 1))
    goals = replace(goals, threshold_selection_confidence=level)
    notes: list[str] = []
    if not data.deciders:
        raise ValueError(f"no decider has decisions for policy {data.policy}")
    if data.n == 0:
        raise ValueError(f"no item of policy {data.policy} has a decision from every tier with a "
                         f"known gold ({data.left_out})")
    if not data.violating:
        notes.append(f"{data.policy} names no violating label: nothing can be auto-actioned")
    if not any(d.scored for d in data.deciders.values()):
        notes.append("no decider gives scores, so no tier can take a threshold: only "
                     "single-decider plans are possible")
    cands = _search(cal, goals, targets.max_automated_tiers, targets.grid_points)
    vol = targets.daily_volume

    def build(c: Cascade) -> Plan:
        return _build_plan(cal, val, c, goals, vol)

    baseline_plans = [build(c.cascade) for c in cands if not c.cascade.steps]
    meeting = sorted((c for c in cands if c.meets), key=_cost_key)
    first = build(meeting[0].cascade) if meeting else None
    status: Literal["plan_meets_targets", "no_plan_meets_targets"]
    if first is not None and first.meets_targets:
        plan, status = first, "plan_meets_targets"
    else:
        if first is not None:
            notes.append(f"The cheapest plan found on calibration items, {first.name}, did not hold "
                         "on validation items: " + "; ".join(_failed_targets(first)))
        else:
            notes.append("No plan met every target on calibration items.")
        ok_baselines = sorted((p for p in baseline_plans if p.meets_targets),
                              key=lambda p: (p.expected.cost_per_decision_usd,
                                             -p.expected.violating_f1))
        if ok_baselines:
            plan, status = ok_baselines[0], "plan_meets_targets"
            notes.append(f"Recommended instead: {plan.name}, the cheapest single-decider plan that "
                         "meets every target on validation items.")
        else:
            status = "no_plan_meets_targets"
            closest_cal = min(cands, key=lambda c: (*_shortfall(c.checks), c.cost))
            options = [build(closest_cal.cascade), *baseline_plans]
            plan = min(options, key=lambda p: (not p.steps_confirmed,
                                               *_shortfall(p.target_checks),
                                               p.expected.cost_per_decision_usd))
    front = pareto_frontier(cands)[:15]
    frontier = [FrontierPoint(
        name=c.cascade.name, cost_per_decision_usd=c.cost, violating_f1=c.f1,
        violating_precision=c.precision, violating_recall=c.recall,
        meets_targets_on_calibration=c.meets,
        validation=_metrics(val, c.cascade, simulate(val, c.cascade), goals.confidence, vol),
    ) for c in front]
    keys = list(dict.fromkeys([*slice_keys, *(s.key for s in goals.slices)]))
    thresholds = _standalone_thresholds(cal, val, goals)
    if keys:
        _standalone_slice_flags(thresholds, val, val.slice_masks(keys), goals)
    slices = _slices(val, _cascade_of(plan), keys, goals)
    qa = _qa_request(plan, val, goals, targets)
    routing = PolicyRouting(
        policy=data.policy, labels=list(data.labels), violating=list(data.violating), status=status,
        recommendation="", items={
            "used": data.n, "calibration": cal.n, "validation": val.n,
            "left_out": dict(data.left_out),
        },
        targets=goals.describe(), plan=plan, baselines=baseline_plans, thresholds=thresholds,
        frontier=frontier, slices=slices, qa_request=qa, notes=notes, searched=len(cands),
    )
    routing.recommendation = recommendation_text(routing, data, vol)
    sole = plan.tiers[0].decider if len(plan.tiers) == 1 else None
    routing.tier_verdicts = tier_verdicts(thresholds, data.policy, sole_decider=sole)
    return routing


def tier_verdicts(thresholds: Sequence[ThresholdCheck], policy: str,
                  sole_decider: str | None = None) -> dict[str, str]:
    """One sentence per scored decider: what it may take as the first tier, or that it should
    take no cases of the policy at these targets. ``sole_decider`` is the decider the plan gives
    every item to (its verdict then speaks of thresholds only, not of taking no cases)."""
    out: dict[str, str] = {}
    by: dict[str, list[ThresholdCheck]] = {}
    for t in thresholds:
        by.setdefault(t.decider, []).append(t)
    for name, checks in by.items():
        who = tier_label(checks[0].kind, name)
        ok = [c for c in checks if c.confirmed]
        if not ok:
            why = "; ".join(c.message.split(": ", 1)[-1] for c in checks)
            if name == sole_decider:
                out[name] = (f"{who} has no confidence threshold that holds at this target, so it "
                             f"cannot take a share of {policy} cases ahead of another tier; the plan "
                             f"gives it every item on its end-to-end quality alone: {why}")
            else:
                out[name] = f"{who} should take no {policy} cases at this target: {why}"
        else:
            parts = []
            for c in ok:
                v = c.validation
                share = v.share if v is not None and v.share is not None else 0.0
                parts.append(f"{'auto-action' if c.side == 'auto_action' else 'auto-clear'} "
                             f"{c.rule} (~{share:.0%} of items)")
            out[name] = f"{who} may {' and '.join(parts)} of {policy} as the first tier"
            flagged = [f.split(" must not ", 1)[1].split(" cases:", 1)[0]
                       for c in ok for f in c.slice_flags]
            if flagged:
                out[name] += f", but must not {', '.join(flagged)} cases"
    return out


def _cascade_of(plan: Plan) -> Cascade:
    steps = tuple(Step(t.decider,
                       t.auto_action.threshold if t.auto_action is not None else None,
                       t.auto_clear.threshold if t.auto_clear is not None else None)
                  for t in plan.tiers if t.role == "automated")
    return Cascade(steps, plan.tiers[-1].decider)


def recommendation_text(r: PolicyRouting, data: PolicyData, daily_volume: int) -> str:
    """The recommendation for one policy in plain words (first line of the sign-off section)."""
    plan, exp = r.plan, r.plan.expected
    quality = _quality_sentence(exp, data.violating)
    cost = _cost_sentence(exp, daily_volume)
    how = _plan_sentence(plan, data)
    if r.status == "plan_meets_targets":
        auto = "" if len(plan.tiers) == 1 else (
            f" Automated tiers decide {1 - plan.expected.tiers[-1].decided.value:.0%} of items; each "
            f"automated step is guaranteed at {data_conf(r):.0%} confidence.")
        return (f"{data.policy}: {how}. Expected on validation items: {quality}; {cost}. "
                f"Meets every target.{auto}")
    failed = [c for c in plan.target_checks if c.met is False]
    human = [b for b in r.baselines if b.tiers[0].kind in HUMAN_KINDS]
    missed = "; ".join(f"{c.target}, got {_fmt_iv(c.value)}" for c in failed) or \
        "an automated step does not hold on validation items"
    text = (f"{data.policy}: no plan meets every target on this data. Closest: {how}. It misses "
            f"{missed}. It costs {cost}.")
    if human and human[0].name != plan.name:
        h = human[0].expected
        text += f" All human review ({human[0].tiers[0].decider}) reaches {quality_short(h)}."
    return text + " Lower the targets, or improve the deciders and the golden set, before signing."


def quality_short(m: PlanMetrics) -> str:
    return (f"precision {_fmt_iv(m.violating_precision)} and recall "
            f"{_fmt_iv(m.violating_recall)}")


def data_conf(r: PolicyRouting) -> float:
    return float(r.qa_request.confidence)
