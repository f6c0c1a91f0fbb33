"""Human raters: how they agree with each other and with QA gold, and what each BPO site delivers.

Built from the per-rater rows of ``decisions.jsonl`` (``<human decider>/<rater>``, kind
``human_rater``): each row is one rater's judgment of one item, with its (leave-one-out) gold, the
rater's site, handling seconds (``latency_s``) and cost.

* Krippendorff's alpha (nominal) over all items with two or more ratings, and per label (the label
  against all others), with percentile bootstrap intervals over items.
* Rater splits per slice: the share of items on which raters gave different labels.
* Per rater and per site: accuracy against gold (Wilson), per-label recall, throughput, cost. Sites
  are compared with the most accurate site by Newcombe's hybrid-score interval for the difference
  of two independent proportions (a site differs significantly when the interval excludes 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

from ..stats.agreement import alpha_bootstrap, krippendorff_alpha
from ..stats.binomial import newcombe_difference
from ..stats.bootstrap import bootstrap_interval
from .intervals import or_none, wilson
from ..records import (
    Decision,
    Difference,
    HumanAgreement,
    Interval,
    LabelAgreement,
    RaterScore,
    SiteScore,
    SliceAgreement,
    slice_values,
)

__all__ = ["alpha_interval", "human_agreement", "site_scores"]


def alpha_interval(
    units: Sequence[Sequence[Hashable]], *, n_resamples: int = 1000, seed: int = 0
) -> Interval:
    """Krippendorff's nominal alpha with a percentile bootstrap interval over units (items).

    Parameters
    ----------
    units : sequence of sequences
        The labels each item got from its raters. Items with fewer than two ratings are ignored.
    n_resamples : int, default 1000
        Bootstrap resamples of the pairable items (with replacement).
    seed : int, default 0
        Seed for ``numpy.random.default_rng``.

    Returns
    -------
    Interval
        ``value`` from :func:`evalharness.stats.agreement.krippendorff_alpha`; ``low``/``high``
        the 2.5th/97.5th percentiles of the resampled alphas (resamples where alpha is undefined,
        e.g. a single category, are dropped). Value null when alpha is undefined.

    Examples
    --------
    >>> iv = alpha_interval([["a", "a"], ["b", "b"], ["a", "b"]])
    >>> round(iv.value, 4)
    0.4444
    """
    pairable = [list(u) for u in units if len(u) >= 2]
    value = krippendorff_alpha(pairable)
    if value is None:
        return Interval(value=None, method="bootstrap")
    low, high = alpha_bootstrap(pairable, n_resamples=n_resamples, seed=seed)
    return Interval(value=value, low=or_none(low), high=or_none(high), method="bootstrap")


def _correct(d: Decision) -> bool:
    return d.outcome == "ok" and d.label is not None and d.label == d.gold


def _items_per_hour(rows: Sequence[Decision]) -> Interval | None:
    seconds = np.array([d.latency_s for d in rows if d.latency_s is not None], dtype=np.float64)
    total = float(seconds.sum())
    if seconds.size == 0 or total <= 0:
        return None
    def per_hour(s: np.ndarray, axis: int) -> np.ndarray:
        mean = s.mean(axis=axis)
        with np.errstate(divide="ignore"):
            return np.where(mean > 0, 3600.0 / mean, np.nan)

    low, high = bootstrap_interval(per_hour, seconds)
    return Interval(value=3600.0 * seconds.size / total, low=or_none(low), high=or_none(high),
                    method="bootstrap")


def site_scores(
    by_site: dict[str, list[Decision]], labels: Sequence[str]
) -> tuple[list[SiteScore], str | None]:
    """One scorecard per site, each compared with the most accurate site; returns (scores, best)."""
    sites = []
    right: dict[str, int] = {}
    for site, rows in sorted(by_site.items()):
        graded = [d for d in rows if d.gold is not None]
        correct = right[site] = sum(_correct(d) for d in graded)
        cost = sum(d.cost_usd for d in rows)
        recall = {}
        for label in labels:
            of_label = [d for d in graded if d.gold == label]
            recall[label] = wilson(sum(_correct(d) for d in of_label), len(of_label))
        sites.append(SiteScore(
            site=site,
            raters=len({d.rater for d in rows}),
            n=len(graded),
            accuracy=wilson(correct, len(graded)),
            n_no_gold=len(rows) - len(graded),
            recall=recall,
            handling_seconds=float(sum(d.latency_s or 0.0 for d in rows)),
            items_per_hour=_items_per_hour(rows),
            cost_total_usd=cost,
            cost_per_decision_usd=cost / len(rows) if rows else None,
            cost_per_correct_usd=cost / correct if correct else None,
        ))
    scored = [s for s in sites if s.n]
    if not scored:
        return sites, None
    best = min(scored, key=lambda s: (-(s.accuracy.value or 0.0), -s.n, s.site))
    for s in scored:
        if s is best:
            continue
        d, low, high = newcombe_difference(right[s.site], s.n, right[best.site], best.n)
        s.accuracy_vs_best = Difference(
            reference=best.site,
            n=s.n + best.n,
            difference=Interval(value=d, low=low, high=high, method="newcombe"),
            significant=bool(low > 0 or high < 0),
        )
    return sites, best.site


def human_agreement(
    rater_rows: Sequence[Decision],
    policy: str,
    decider: str,
    *,
    labels: Sequence[str] | None = None,
    slice_by: Sequence[str] = (),
) -> HumanAgreement:
    """Agreement among raters and with (leave-one-out) gold, per rater and per site.

    ``labels`` is the policy's label order (default: the labels the raters used, sorted).
    """
    labels = list(labels) if labels else sorted({d.label for d in rater_rows if d.label})
    units: dict[str, list[str]] = defaultdict(list)
    meta_row: dict[str, Decision] = {}
    by_rater: dict[str, list[Decision]] = defaultdict(list)
    by_site: dict[str, list[Decision]] = defaultdict(list)
    for d in rater_rows:
        if d.outcome == "ok" and d.label is not None:
            units[d.item_id].append(d.label)
            meta_row.setdefault(d.item_id, d)
        by_rater[d.rater or "?"].append(d)
        if d.site:
            by_site[d.site].append(d)
    pairable = {item: u for item, u in sorted(units.items()) if len(u) >= 2}
    alpha = alpha_interval(list(pairable.values()))

    per_label = []
    for label in labels:
        binary = [[v == label for v in u] for u in pairable.values()]
        used = [b for b in binary if any(b)]
        gold_rows = [d for d in rater_rows if d.gold == label]
        per_label.append(LabelAgreement(
            label=label,
            alpha=alpha_interval(binary),
            n_items=len(used),
            n_split=sum(not all(b) for b in used),
            rater_recall=wilson(sum(_correct(d) for d in gold_rows), len(gold_rows)),
        ))

    slices = []
    for key in slice_by:
        by_value: dict[str, list[list[str]]] = defaultdict(list)
        for item, u in pairable.items():
            for value in slice_values(meta_row[item].meta, key):
                by_value[value].append(u)
        for value, group in sorted(by_value.items()):
            n_split = sum(len(set(u)) > 1 for u in group)
            slices.append(SliceAgreement(
                key=key, value=value, n_items=len(group), n_split=n_split,
                split_rate=wilson(n_split, len(group)),
                alpha=krippendorff_alpha(group),
            ))

    raters = []
    for rater, rows in sorted(by_rater.items()):
        graded = [d for d in rows if d.gold is not None]
        raters.append(RaterScore(
            rater=rater, site=rows[0].site, n=len(graded),
            accuracy=wilson(sum(_correct(d) for d in graded), len(graded)),
            n_no_gold=len(rows) - len(graded),
            handling_seconds=float(sum(d.latency_s or 0.0 for d in rows)),
            cost_total_usd=float(sum(d.cost_usd for d in rows)),
        ))
    sites, best_site = site_scores(by_site, labels)
    graded = [d for d in rater_rows if d.gold is not None]
    return HumanAgreement(
        policy=policy,
        decider=decider,
        krippendorff_alpha=alpha.value,
        n_items=len(units),
        raters=raters,
        sites=sites,
        rater_accuracy=wilson(sum(_correct(d) for d in graded), len(graded)),
        alpha=alpha,
        n_split_items=sum(len(set(u)) > 1 for u in pairable.values()),
        labels=per_label,
        slices=slices,
        best_site=best_site,
    )
