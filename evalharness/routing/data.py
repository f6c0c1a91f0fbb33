"""What routing works on: every candidate tier's decisions on one policy's items, as arrays.

One gold per plan: machine tiers are graded against QA gold; a human tier graded leave-one-out
(its decisions carry the majority of the *other* raters) brings that gold with it, and every plan
that includes the human tier is graded against it on every item — machine-decided items too — so
within a plan, and between the tiers it compares, there is one gold. Items where a tier has no
decision, or where the human tier has no gold independent of its own rater (the others tied),
are left out of the plans that include that tier only, and counted by reason. (Plans of
different tiers are then ranked by cost and checked against targets on their own items; each
plan says which items it left out.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..records import HUMAN_KINDS, HUMAN_RATER, MISSING_SLICE, OUTCOMES_NOT_OK, Decision, slice_values
from ..records.routing import UNKNOWN_SITE
from ..records.targets import CostOverrides
from ..scoring.columns import NO_GOLD, p_violating

__all__ = ["DeciderArrays", "PolicyData", "build_policy_data", "calibration_mask"]


def calibration_mask(item_ids: Sequence[str], *, share: float, seed: int) -> NDArray[np.bool_]:
    """True for items in the calibration split: ``sha256(f"{seed}:{id}")`` as a number in [0, 1)
    below ``share``. Stable across runs, machines and item order."""
    out = np.zeros(len(item_ids), dtype=bool)
    for i, item_id in enumerate(item_ids):
        digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2**64 < share
    return out


@dataclass
class DeciderArrays:
    """One decider's decisions on a policy's items, aligned with :attr:`PolicyData.item_ids`.

    Labels are integer codes: ``0..L-1`` the policy labels, ``L + j`` the j-th non-ok outcome.
    """

    name: str
    kind: str
    has: NDArray[np.bool_]
    """The decider decided the item."""
    pred: NDArray[np.intp]
    """Decided label code, or ``L + j`` for a non-ok outcome (meaningless where ``has`` is False)."""
    p: NDArray[np.float64]
    """P(violating): sum of ``scores`` over the violating labels; nan without a score."""
    act: NDArray[np.intp]
    """Label code given on auto-action (the most likely violating label)."""
    clear: NDArray[np.intp]
    """Label code given on auto-clear (the most likely non-violating label)."""
    gold: NDArray[np.intp]
    """Gold this decider is graded against (leave-one-out gold for human tiers); ``NO_GOLD``
    where there is none."""
    cost: NDArray[np.float64]
    seconds: NDArray[np.float64]
    """Human handling seconds (0 for machines; nan when unknown)."""
    site: NDArray[np.object_]

    @property
    def human(self) -> bool:
        return self.kind in HUMAN_KINDS

    @property
    def scored(self) -> bool:
        """Gives a confidence (``scores``) on at least one item, so it can take a threshold."""
        return not self.human and bool(np.isfinite(self.p[self.has]).any())

    def take(self, idx: NDArray[np.intp]) -> DeciderArrays:
        return DeciderArrays(self.name, self.kind, self.has[idx], self.pred[idx], self.p[idx],
                             self.act[idx], self.clear[idx], self.gold[idx], self.cost[idx],
                             self.seconds[idx], self.site[idx])


@dataclass
class PolicyData:
    """One policy's items and every candidate tier's decisions on them.

    After :meth:`for_tiers` every decider's ``gold`` is the one gold of that set of tiers.
    """

    policy: str
    labels: tuple[str, ...]
    violating: tuple[str, ...]
    item_ids: list[str]
    meta: list[dict[str, Any]]
    gold: NDArray[np.intp]
    """Gold per item: QA gold, or after :meth:`for_tiers` the one gold of those tiers."""
    deciders: dict[str, DeciderArrays]
    left_out: dict[str, int] = field(default_factory=dict)
    """Items not used, by reason."""

    @property
    def n(self) -> int:
        return len(self.item_ids)

    @cached_property
    def violating_codes(self) -> NDArray[np.intp]:
        out = np.array([self.labels.index(v) for v in self.violating], dtype=np.intp)
        out.flags.writeable = False
        return out

    @cached_property
    def _violating_lookup(self) -> NDArray[np.bool_]:
        lookup = np.zeros(len(self.labels) + len(OUTCOMES_NOT_OK), dtype=bool)
        lookup[self.violating_codes] = True
        lookup.flags.writeable = False
        return lookup

    def is_violating(self, codes: NDArray[np.intp]) -> NDArray[np.bool_]:
        """True where a label code (or outcome code) is a violating label."""
        return self._violating_lookup[codes]

    @cached_property
    def gold_violating(self) -> NDArray[np.bool_]:
        """Gold is a violating label, per item (computed once, read-only)."""
        out = self.is_violating(self.gold)
        out.flags.writeable = False
        return out

    def take(self, idx: NDArray[np.intp]) -> PolicyData:
        return PolicyData(self.policy, self.labels, self.violating,
                          [self.item_ids[i] for i in idx], [self.meta[i] for i in idx],
                          self.gold[idx], {k: d.take(idx) for k, d in self.deciders.items()},
                          dict(self.left_out))

    def for_tiers(self, tiers: Sequence[str]) -> PolicyData:
        """The items every tier in ``tiers`` decided, each decider graded against one gold: the
        human tier's when one is among ``tiers``, else QA gold. The rest are counted in
        ``left_out`` by reason."""
        chosen = {name: self.deciders[name] for name in dict.fromkeys(tiers)}
        humans = [d for d in chosen.values() if d.human]
        if len(humans) > 1:
            raise ValueError(f"one human tier per plan, got {[d.name for d in humans]}")
        gold = humans[0].gold if humans else self.gold
        keep = np.ones(self.n, dtype=bool)
        left_out = dict(self.left_out)
        for d in chosen.values():
            missing = keep & ~d.has
            if missing.any():
                left_out[f"no decision from {d.name}"] = int(missing.sum())
            keep &= d.has
        no_gold = keep & (gold == NO_GOLD)
        if no_gold.any():
            left_out[f"no gold independent of {humans[0].name}'s own rater (the other raters "
                     "tied)"] = int(no_gold.sum())
        keep &= gold != NO_GOLD
        idx = np.flatnonzero(keep)
        deciders = {name: DeciderArrays(d.name, d.kind, d.has[idx], d.pred[idx], d.p[idx],
                                        d.act[idx], d.clear[idx], gold[idx], d.cost[idx],
                                        d.seconds[idx], d.site[idx])
                    for name, d in chosen.items()}
        return PolicyData(self.policy, self.labels, self.violating,
                          [self.item_ids[i] for i in idx], [self.meta[i] for i in idx],
                          gold[idx], deciders, left_out)

    def slice_masks(self, keys: Sequence[str]) -> dict[tuple[str, str], NDArray[np.bool_]]:
        """Items per (meta key, value) (:func:`~evalharness.records.kinds.slice_values`; items
        without a value are in no slice here)."""
        out: dict[tuple[str, str], NDArray[np.bool_]] = {}
        for key in keys:
            for i, meta in enumerate(self.meta):
                for v in slice_values(meta, key):
                    if v != MISSING_SLICE:  # no routing advice for items without a value
                        out.setdefault((key, v), np.zeros(self.n, dtype=bool))[i] = True
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

    Per-rater rows (``human_rater``) are ignored. Items without a known QA gold are left out (and
    counted); every other item is kept, with each tier's decision where it has one — which plans
    may use an item is decided per set of tiers (:meth:`PolicyData.for_tiers`).
    """
    labels = tuple(labels)
    violating = tuple(violating)
    if not set(violating) <= set(labels):
        raise ValueError(f"violating labels {list(violating)} are not all in labels {list(labels)}")
    codes = {lab: i for i, lab in enumerate((*labels, *OUTCOMES_NOT_OK))}
    costs = costs or CostOverrides()
    rows: dict[str, dict[str, Decision]] = {}
    kinds: dict[str, str] = {}
    qa_gold: dict[str, str] = {}
    unknown: set[str] = set()
    for d in decisions:
        if d.policy != policy or d.decider_kind == HUMAN_RATER:
            continue
        if deciders is not None and d.decider not in deciders:
            continue
        rows.setdefault(d.decider, {}).setdefault(d.item_id, d)
        kinds.setdefault(d.decider, d.decider_kind)
        if d.decider_kind not in HUMAN_KINDS:
            if d.gold in labels:
                qa_gold.setdefault(d.item_id, d.gold)  # type: ignore[arg-type]
            else:
                unknown.add(d.item_id)
    names = list(rows)
    every = sorted(set().union(*(r.keys() for r in rows.values()))) if rows else []
    if not any(kinds[n] not in HUMAN_KINDS for n in names):  # only human tiers: their QA gold
        qa_gold = {i: d.gold for r in rows.values() for i, d in r.items()  # type: ignore[misc]
                   if d.gold in labels}
    used = [i for i in every if i in qa_gold and i not in unknown]
    left_out = {"no QA gold": len(every) - len(used)} if len(every) > len(used) else {}
    non_violating = [lab for lab in labels if lab not in violating]
    arrays = {name: _arrays(name, kinds[name], rows[name], used, qa_gold, labels, violating,
                            non_violating, codes, costs)
              for name in names}
    meta = [dict(next(r[i] for r in rows.values() if i in r).meta) for i in used]
    gold = np.array([codes[qa_gold[i]] for i in used], dtype=np.intp)
    return PolicyData(policy, labels, violating, used, meta, gold, arrays, left_out)


def _arrays(name: str, kind: str, rows: dict[str, Decision], used: list[str],
            qa_gold: dict[str, str], labels: tuple[str, ...], violating: tuple[str, ...],
            non_violating: list[str], codes: dict[str, int], costs: CostOverrides) -> DeciderArrays:
    n = len(used)
    has = np.zeros(n, dtype=bool)
    pred = np.zeros(n, dtype=np.intp)
    p = np.full(n, np.nan)
    act = np.full(n, codes[violating[0]] if violating else 0, dtype=np.intp)
    clear = np.full(n, codes[non_violating[0]] if non_violating else 0, dtype=np.intp)
    gold = np.full(n, NO_GOLD, dtype=np.intp)
    cost = np.zeros(n)
    seconds = np.zeros(n)
    site = np.empty(n, dtype=object)
    human = kind in HUMAN_KINDS
    for i, item_id in enumerate(used):
        dec = rows.get(item_id)
        if dec is None:
            continue
        has[i] = True
        ok = dec.outcome == "ok" and dec.label in labels
        pred[i] = codes[dec.label] if ok else codes[dec.outcome if dec.outcome != "ok" else "invalid"]  # type: ignore[index]
        if human:
            gold[i] = codes[dec.gold] if dec.gold in labels else NO_GOLD  # type: ignore[index]
        else:
            gold[i] = codes[qa_gold[item_id]]
        score = p_violating(dec, violating) if ok and violating else None
        if score is not None:
            s = dec.scores or {}
            p[i] = score
            act[i] = codes[max(violating, key=lambda v: s.get(v, 0.0))]
            if non_violating:
                clear[i] = codes[max(non_violating, key=lambda v: s.get(v, 0.0))]
        cost[i] = costs.decider_cost_usd.get(name, dec.cost_usd)
        if human:
            site[i] = dec.site or UNKNOWN_SITE
            seconds[i] = dec.latency_s if dec.latency_s is not None else np.nan
            rate = costs.hourly_cost_usd.get(dec.site or "", costs.hourly_cost_usd.get(name))
            if rate is not None and dec.latency_s is not None:
                cost[i] = rate * dec.latency_s / 3600
    return DeciderArrays(name, kind, has, pred, p, act, clear, gold, cost, seconds, site)
