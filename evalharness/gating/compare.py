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
Nothing passes on nothing: two runs with no item in common, or no paired item of the same known
gold, raise :class:`~evalharness.records.errors.RunDirError` (exit 2); a decider that compared
nothing while others did gets a note (and a gate check on it is an error, :mod:`.gate`).
Non-ok outcomes (invalid, refusal, error) stay in as wrong answers, as in ``metrics.json``.

The pairing is :mod:`.pairs`, the statistics :mod:`.deltas`. :func:`compare_decisions` is pure
over records; :func:`evalharness.api.comparison.compare_runs` reads two run folders and, with a
gate, checks the result (:mod:`evalharness.gating.gate`). The markdown summary for pull requests is
:func:`evalharness.report.comparison.compare_markdown`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..records import HUMAN_KINDS, HUMAN_RATER, OUTCOMES_NOT_OK, Decision, Manifest, PolicyInfo
from ..records.errors import RunDirError
from ..records.comparison import (
    CompareResult,
    DeciderComparison,
    ItemOverlap,
    PolicyComparison,
    RunSide,
)
from ..scoring.intervals import wilson
from ..scoring.rows import metric_row
from .deltas import cost_deltas, quality_deltas
from .pairs import Pairs, flips

__all__ = ["compare_decisions"]


def _scored(decisions: Iterable[Decision]) -> list[Decision]:
    return [d for d in decisions if d.decider_kind != HUMAN_RATER]


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
    pairs = Pairs([by_b[i] for i in shared], [by_c[i] for i in shared], labels)
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    deltas = [*quality_deltas(pairs, labels, alpha=alpha, power=power, **boot),
              *cost_deltas(pairs, **boot)]
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
        flips=flips(pairs, labels),
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
            if value is not None and value not in labels and value not in OUTCOMES_NOT_OK:
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
        With ``gate`` unset; see :func:`evalharness.gating.gate.check_gate`.
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
            if not dc.n_graded:
                why = "decided no item in both runs" if not dc.n_paired else \
                    "has no paired item with the same known gold in both runs"
                notes.append(f"{pid}/{dc.decider}: {why}: nothing compared (a gate check on it "
                             "is an error)")
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
        if before and before.get("bundle") != d.get("bundle"):
            notes.append(f"decider {d.get('name')} is asked differently: {_asked(before)} → "
                         f"{_asked(d)} (the prompt it sees changed)")
    only_b = [p for p in policies_b if p not in policies_c]
    only_c = [p for p in policies_c if p not in policies_b]
    if only_b:
        notes.append(f"policies only in the base run (not compared): {', '.join(only_b)}")
    if only_c:
        notes.append(f"policies only in the candidate run (not compared): {', '.join(only_c)}")
    _check_something_paired(policies, overlap, base_path, candidate_path)
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


def _check_something_paired(policies: Sequence[PolicyComparison], overlap: ItemOverlap,
                            base_path: Path | str, candidate_path: Path | str) -> None:
    """Nothing passes on nothing: a comparison that pairs no decision is an error (exit 2)."""
    runs = f"{base_path or 'the base'} and {candidate_path or 'the candidate'}"
    if not overlap.both:
        raise RunDirError(
            f"runs {runs} have no item in common ({overlap.only_base} items only in the base, "
            f"{overlap.only_candidate} only in the candidate): nothing to compare",
            fix="compare two runs over the same golden set and --limit")
    pairs = [dc for pc in policies for dc in pc.deciders]
    if not any(dc.n_paired for dc in pairs):
        raise RunDirError(
            f"runs {runs} share {overlap.both} items but no policy and decider decided any of "
            "them in both runs: nothing to compare",
            fix="compare runs of the same policies and deciders")
    if not any(dc.n_graded for dc in pairs):
        raise RunDirError(
            f"runs {runs} share {overlap.both} items but none has the same known gold in both "
            f"runs ({sum(dc.n_gold_changed for dc in pairs)} paired decisions with changed "
            "gold): no quality to compare",
            fix="compare runs over the same golden set version")


def _asked(described: dict[str, Any]) -> str:
    """How a decider's manifest entry says it is asked: each policy alone, or in a bundle."""
    bundle = described.get("bundle")
    return f"bundle {bundle} (one call per item)" if bundle else "one call per policy"
