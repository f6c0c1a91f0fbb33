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
from ..records.table import DecisionTable, as_table
from ..records.routing import UNKNOWN_SITE
from ..records.targets import CostOverrides
from ..scoring.columns import NO_GOLD

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
    decisions: DecisionTable | Sequence[Decision],
    *,
    policy: str,
    labels: Sequence[str],
    violating: Sequence[str],
    deciders: Sequence[str] | None = None,
    costs: CostOverrides | None = None,
    order: Sequence[str] = (),
) -> PolicyData:
    """Align the decisions of every candidate tier on one policy's items.

    Per-rater rows (``human_rater``) are ignored. Items without a known QA gold are left out (and
    counted); every other item is kept, with each tier's decision where it has one — which plans
    may use an item is decided per set of tiers (:meth:`PolicyData.for_tiers`). QA gold is the
    first machine decision's gold; an item where any machine decision has no gold among
    ``labels`` has none (with human tiers only, the last tier's gold). Tiers come in ``order``
    (e.g. the config's), then in the order their decisions appear.
    """
    table = as_table(decisions)
    labels = tuple(labels)
    violating = tuple(violating)
    if not set(violating) <= set(labels):
        raise ValueError(f"violating labels {list(violating)} are not all in labels {list(labels)}")
    costs = costs or CostOverrides()
    picked = table.is_value("policy", policy) & ~table.is_value("decider_kind", HUMAN_RATER)
    if deciders is not None:
        picked &= np.isin(table["decider"].codes,
                          [c for c in map(table["decider"].code, deciders) if c >= 0])
    rows = {str(name): idx for (name,), idx in table.groups(picked, by=("decider",)).items()}
    rank = {name: i for i, name in enumerate(order)}
    rows = dict(sorted(rows.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    kinds = {name: str(table["decider_kind"][int(idx[0])]) for name, idx in rows.items()}
    gold_code = table["gold"].lookup({lab: i for i, lab in enumerate(labels)}, NO_GOLD)
    item = table["item_id"].codes
    n_items = len(table["item_id"].values)
    qa = np.full(n_items, NO_GOLD, dtype=np.intp)
    unknown = np.zeros(n_items, dtype=bool)
    machines = [name for name in rows if kinds[name] not in HUMAN_KINDS]
    if machines:
        machine_rows = np.sort(np.concatenate([rows[name] for name in machines]))
        known = machine_rows[gold_code[machine_rows] != NO_GOLD]
        unknown[item[machine_rows[gold_code[machine_rows] == NO_GOLD]]] = True
        first = np.unique(item[known], return_index=True)[1]  # the first decision per item
        qa[item[known[first]]] = gold_code[known[first]]
    else:  # only human tiers: their QA gold (the last tier's, where several have it)
        for idx in rows.values():
            known = idx[gold_code[idx] != NO_GOLD]
            qa[item[known]] = gold_code[known]
    decided = np.zeros(n_items, dtype=bool)
    for idx in rows.values():
        decided[item[idx]] = True
    ids = table["item_id"].values
    used_codes = np.array(sorted(np.flatnonzero(decided & (qa != NO_GOLD) & ~unknown),
                                 key=ids.__getitem__), dtype=np.intp)
    n_every = int(decided.sum())
    left_out = {"no QA gold": n_every - len(used_codes)} if n_every > len(used_codes) else {}
    position = np.full(n_items, -1, dtype=np.intp)
    position[used_codes] = np.arange(len(used_codes))
    arrays = {name: _arrays(table, name, kinds[name], idx, position, qa[used_codes], labels,
                            violating, costs)
              for name, idx in rows.items()}
    meta = [dict(table.meta[c]) for c in used_codes]
    return PolicyData(policy, labels, violating, [ids[c] for c in used_codes], meta,
                      qa[used_codes], arrays, left_out)


def _arrays(table: DecisionTable, name: str, kind: str, rows: NDArray[np.intp],
            position: NDArray[np.intp], qa_gold: NDArray[np.intp], labels: tuple[str, ...],
            violating: tuple[str, ...], costs: CostOverrides) -> DeciderArrays:
    """One tier's arrays: its decisions ``rows`` placed at their items' ``position`` (rows whose
    item is not used are dropped)."""
    codes = {lab: i for i, lab in enumerate((*labels, *OUTCOMES_NOT_OK))}
    non_violating = [lab for lab in labels if lab not in violating]
    at = position[table["item_id"].codes[rows]]
    rows, at = rows[at >= 0], at[at >= 0]
    n = len(qa_gold)
    human = kind in HUMAN_KINDS
    has = np.zeros(n, dtype=bool)
    has[at] = True
    label = table["label"].lookup({lab: i for i, lab in enumerate(labels)}, -1, rows)
    outcome = table["outcome"].lookup(codes | {"ok": codes["invalid"]}, codes["invalid"], rows)
    ok = table.is_value("outcome", "ok")[rows] & (label >= 0)
    pred = np.zeros(n, dtype=np.intp)
    pred[at] = np.where(ok, label, outcome)
    gold = np.full(n, NO_GOLD, dtype=np.intp)
    if human:
        gold[at] = table["gold"].lookup({lab: i for i, lab in enumerate(labels)}, NO_GOLD, rows)
    else:
        gold[at] = qa_gold[at]
    p = np.full(n, np.nan)
    act = np.full(n, codes[violating[0]] if violating else 0, dtype=np.intp)
    clear = np.full(n, codes[non_violating[0]] if non_violating else 0, dtype=np.intp)
    if violating:
        p_rows = table.p_violating(rows, violating)
        scored = ok & np.isfinite(p_rows)
        r, where = rows[scored], at[scored]
        p[where] = p_rows[scored]
        act[where] = _most_likely(table, r, violating, codes)
        if non_violating:
            clear[where] = _most_likely(table, r, non_violating, codes)
    cost = np.zeros(n)
    cost[at] = costs.decider_cost_usd.get(name, table.numbers["cost_usd"][rows])
    seconds = np.zeros(n)
    site = np.empty(n, dtype=object)
    if human:
        sites = [table["site"][int(i)] for i in rows]
        site[at] = [s or UNKNOWN_SITE for s in sites]
        latency = table.numbers["latency_s"][rows]
        seconds[at] = latency
        rate = np.array([costs.hourly_cost_usd.get(s or "", costs.hourly_cost_usd.get(name))
                         for s in sites], dtype=float)  # None -> nan
        paid = np.isfinite(rate) & np.isfinite(latency)
        cost[at[paid]] = rate[paid] * latency[paid] / 3600
    return DeciderArrays(name, kind, has, pred, p, act, clear, gold, cost, seconds, site)


def _most_likely(table: DecisionTable, rows: NDArray[np.intp], among: Sequence[str],
                 codes: dict[str, int]) -> NDArray[np.intp]:
    """Per row, the code of the label of ``among`` with the highest score (the first on ties;
    a label without a score counts 0)."""
    scores = np.stack([table.score_sums(rows, [lab]) for lab in among])
    return np.array([codes[lab] for lab in among], dtype=np.intp)[np.argmax(scores, axis=0)]
