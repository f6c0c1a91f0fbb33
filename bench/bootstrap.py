"""Vectorised bootstrap statistics against the library called once per resample.

evalharness keeps its own vectorised code for four bootstrap statistics (F1 of a label from coded
decisions, ROC AUC + average precision + ECE from Poisson resample weights, Krippendorff's alpha
from resample weights) because the libraries score one sample per call. This measures that
choice: for each statistic, the same 1,000 resamples (``scipy.stats.bootstrap``, same seed; the
Poisson weights of ``evalharness.stats.poisson`` for AUC/AP/ECE) evaluated

* vectorised, as ``metrics.json`` computes them, and
* by calling scikit-learn / krippendorff once per resample,

side by side in one process, alternating which goes first, best of ``--rounds``. It checks the
two give the same interval and prints a markdown table with the ratio. Run:

    .venv/bin/python bench/bootstrap.py
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from collections.abc import Callable

import krippendorff
import numpy as np
import sklearn.metrics as skm

from evalharness.stats.agreement import alpha_bootstrap, value_counts
from evalharness.stats.bootstrap import bootstrap_distribution, bootstrap_interval, percentile_bounds
from evalharness.stats.coded import encode, rate_statistic
from evalharness.stats.poisson import item_weights
from evalharness.stats.ranking import SCORE_LEVELS, _bins, score_bootstrap

LABELS = ["ok", "spam", "hate"]
OUTCOMES = ["invalid", "refusal", "error"]


def _side_by_side(fast: Callable[[], object], slow: Callable[[], object], rounds: int
                  ) -> tuple[float, float, object, object]:
    """Best time of each over ``rounds``, the two taking turns to go first."""
    times: dict[int, list[float]] = {0: [], 1: []}
    results: dict[int, object] = {}
    for r in range(rounds):
        for side in ((0, 1) if r % 2 == 0 else (1, 0)):
            start = time.perf_counter()
            results[side] = (fast, slow)[side]()
            times[side].append(time.perf_counter() - start)
    return min(times[0]), min(times[1]), results[0], results[1]


def _cases(n: int, resamples: int, seed: int) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    rng = np.random.default_rng(seed)
    gold = rng.choice(LABELS, n)
    pred = np.where(rng.random(n) < 0.8, gold, rng.choice(LABELS + OUTCOMES, n))
    gc, pc = encode(list(gold), LABELS), encode(list(pred), LABELS)
    f1 = rate_statistic("f1", LABELS.index("spam"), len(LABELS))

    def f1_library(i: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = i.reshape(-1, i.shape[-1])
        return np.array([skm.f1_score(gold[r], pred[r], labels=["spam"], average=None,
                                      zero_division=np.nan)[0] for r in rows])

    y = rng.random(n) < 0.3
    s = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 3)
    # metrics.json's score intervals: Poisson weights per item, one sparse product per row
    w = item_weights([f"item-{k}" for k in range(n)], n_resamples=resamples, seed=seed)
    grid, bins = _bins(s, SCORE_LEVELS) / SCORE_LEVELS, _bins(s, 10)

    def score_library() -> np.ndarray:
        """scikit-learn once per Poisson resample (``sample_weight``), ECE weighted by hand."""
        out = np.full((3, resamples), np.nan)
        for k, sw in enumerate(w.T.astype(float)):
            if y[sw > 0].any() and not y[sw > 0].all():
                out[0, k] = skm.roc_auc_score(y, grid, sample_weight=sw)
                out[1, k] = skm.average_precision_score(y, grid, sample_weight=sw)
            gap = np.bincount(bins, sw * y, 10) - np.bincount(bins, sw * s, 10)
            out[2, k] = np.abs(gap).sum() / sw.sum()
        return np.nanpercentile(out, [2.5, 97.5], axis=1)

    units = [list(rng.choice(LABELS, size=rng.integers(2, 4), p=[0.6, 0.3, 0.1]))
             for _ in range(n // 3)]
    counts = value_counts(units)

    def alpha_library(i: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = i.reshape(-1, i.shape[-1])
        return np.array([krippendorff.alpha(value_counts=counts[r], level_of_measurement="nominal")
                         for r in rows])

    def library(stat: Callable[..., np.ndarray], m: int) -> Callable[[], object]:
        return lambda: percentile_bounds(bootstrap_distribution(stat, np.arange(m),
                                                                n_resamples=resamples, seed=seed))

    return {
        f"F1 of one label, {n} items": (
            lambda: bootstrap_interval(f1, gc, pc, n_resamples=resamples, seed=seed),
            library(f1_library, n)),
        f"ROC AUC + AP + ECE, {n} items": (
            lambda: score_bootstrap(y, s, w, np.arange(n)), score_library),
        f"Krippendorff's alpha, {len(units)} items": (
            lambda: alpha_bootstrap(units, n_resamples=resamples, seed=seed),
            library(alpha_library, len(units))),
    }


def _same(a: object, b: object) -> bool:
    flat_a = np.ravel(np.array(list(a.values()) if isinstance(a, dict) else a, dtype=float))
    flat_b = np.ravel(np.array(b, dtype=float).T if isinstance(a, dict) else np.array(b, dtype=float))
    return bool(np.allclose(flat_a, flat_b, atol=1e-6, equal_nan=True))  # float32 score sums


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[300, 2000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"## bootstrap.py — {datetime.date.today()}\n")
    print(f"Python {platform.python_version()}, {platform.machine()}; {args.resamples} resamples, "
          f"best of {args.rounds} rounds, the two sides alternating.\n")
    print("| statistic | vectorised s | library per resample s | ratio | same interval |")
    print("|---|---|---|---|---|")
    for n in args.items:
        for name, (fast, slow) in _cases(n, args.resamples, seed=0).items():
            t_fast, t_slow, r_fast, r_slow = _side_by_side(fast, slow, args.rounds)
            print(f"| {name} | {t_fast:.3f} | {t_slow:.2f} | {t_slow / t_fast:.0f}x | "
                  f"{'yes' if _same(r_fast, r_slow) else 'NO'} |")


if __name__ == "__main__":
    main()
