"""The Poisson bootstrap of metrics.json: weights drawn per item id, checked against scipy's
Poisson distribution and multinomial bootstrap, merged across shards exactly, and covering the
population value at the stated rate in seeded simulations through the public row builders."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import stats

from evalharness.records import Decision
from evalharness.scoring.best import paired_difference
from evalharness.scoring.rows import metric_row
from evalharness.stats import poisson
from evalharness.stats.coded import encode, rate_statistic
from evalharness.stats.poisson import ItemWeights, item_weights, weighted_counts

LABELS = ["ok", "spam"]


def _decision(item: str, gold: str, label: str, decider: str = "d") -> Decision:
    return Decision(item_id=item, policy="p", decider=decider, decider_kind="classic",
                    label=label, outcome="ok", gold=gold)


def test_docstring_examples():
    assert doctest.testmod(poisson).failed == 0


def test_uniforms_become_counts_as_numpys_search_of_scipys_cdf():
    cdf = stats.poisson.cdf(np.arange(254), 1.0)
    rng = np.random.default_rng(3)
    tail = cdf[6] + (1 - cdf[6]) * rng.random(20_000)  # beyond the compared levels
    u = np.concatenate([rng.random(200_000), tail, cdf[:20], np.nextafter(cdf[:20], 0)])
    expected = np.searchsorted(cdf, u, side="right")
    assert expected.max() >= 9  # the searched tail is exercised
    assert (poisson._poisson(u) == expected).all()


def test_weights_are_poisson_one_by_scipys_distribution():
    w = np.concatenate([item_weights([f"i{k}" for k in range(400)], seed=seed).ravel()
                        for seed in range(5)])  # 2 million weights
    observed = np.bincount(w, minlength=7)[:7].astype(float)
    observed[6] += (w > 6).sum()
    expected = stats.poisson.pmf(np.arange(7), 1.0) * w.size
    expected[6] = stats.poisson.sf(5, 1.0) * w.size
    assert stats.chisquare(observed, expected).pvalue > 0.001
    # independent across resamples and items: correlations of neighbours are noise (~1/sqrt(n))
    m = item_weights([f"i{k}" for k in range(2000)], n_resamples=2000, seed=3).astype(float)
    assert abs(np.corrcoef(m[:, 0], m[:, 1])[0, 1]) < 0.1
    assert abs(np.corrcoef(m[0], m[1])[0, 1]) < 0.1


def test_an_items_weights_depend_on_its_id_and_the_seed_only():
    ids = [f"item-{k}" for k in range(50)]
    w = item_weights(ids, seed=7)
    shuffled = list(reversed(ids))
    np.testing.assert_array_equal(item_weights(shuffled, seed=7)[::-1], w)
    np.testing.assert_array_equal(item_weights(ids[10:20], seed=7), w[10:20])
    assert not np.array_equal(item_weights(ids, seed=8), w)


def test_shards_counts_add_up_to_the_whole_runs_exactly():
    rng = np.random.default_rng(1)
    ids = [f"s{k}" for k in range(3001)]
    codes = rng.integers(0, 6, size=len(ids))
    whole = ItemWeights(ids)
    counts = weighted_counts(whole.weights, np.arange(len(ids)), codes, 6)
    shard_sum = np.zeros_like(counts)
    for k in range(3):  # shards by item, each drawing its own weights
        part = [i for j, i in enumerate(ids) if j % 3 == k]
        mine = ItemWeights(part)
        shard_sum += weighted_counts(mine.weights, np.arange(len(part)), codes[k::3], 6)
    np.testing.assert_array_equal(shard_sum, counts)
    np.testing.assert_array_equal(weighted_counts(np.ones((len(ids), 1), np.uint8),
                                                  np.arange(len(ids)), codes, 6)[0],
                                  np.bincount(codes, minlength=6))


def test_f1_interval_agrees_with_scipys_multinomial_bootstrap_on_many_items():
    rng = np.random.default_rng(5)
    n = 3000
    gold = rng.random(n) < 0.3
    pred = np.where(rng.random(n) < 0.8, gold, ~gold)
    names = np.array(LABELS)
    decisions = [_decision(f"i{k}", names[int(g)], names[int(p)]) for k, (g, p) in
                 enumerate(zip(gold, pred))]
    row = metric_row(decisions, LABELS)
    f1 = rate_statistic("f1", 1, len(LABELS))
    ref = stats.bootstrap((encode(names[gold.astype(int)], LABELS),
                           encode(names[pred.astype(int)], LABELS)), f1, paired=True,
                          vectorized=True, n_resamples=2000, method="percentile",
                          rng=np.random.default_rng(0)).confidence_interval
    width = ref.high - ref.low
    assert row.f1["spam"].low == pytest.approx(ref.low, abs=0.1 * width)
    assert row.f1["spam"].high == pytest.approx(ref.high, abs=0.1 * width)


def test_f1_and_paired_difference_intervals_cover_the_population_value():
    # population: gold spam 30%; A right 85% of the time, B 75%, independently per item
    rng = np.random.default_rng(2026)
    p_spam, acc_a, acc_b = 0.3, 0.85, 0.75
    # population F1 of A on spam: TP = .3*.85, FP = .7*.15, FN = .3*.15
    f1_true = 2 * 0.3 * acc_a / (2 * 0.3 * acc_a + 0.7 * (1 - acc_a) + 0.3 * (1 - acc_a))
    hits_f1 = hits_diff = 0
    draws = 400
    for draw in range(draws):
        n = 250
        gold = rng.random(n) < p_spam
        a = np.where(rng.random(n) < acc_a, gold, ~gold)
        b = np.where(rng.random(n) < acc_b, gold, ~gold)
        ids = [f"d{draw}-{k}" for k in range(n)]
        da = [_decision(i, LABELS[int(g)], LABELS[int(p)], "A") for i, g, p in zip(ids, gold, a)]
        db = [_decision(i, LABELS[int(g)], LABELS[int(p)], "B") for i, g, p in zip(ids, gold, b)]
        f1 = metric_row(da, LABELS).f1["spam"]
        hits_f1 += f1.low <= f1_true <= f1.high
        diff = paired_difference(da, db, "B").difference
        hits_diff += diff.low <= acc_a - acc_b <= diff.high
    # 95% intervals: measured 0.950 (F1) and 0.968 (difference) with this seed
    assert 0.92 <= hits_f1 / draws <= 0.975
    assert 0.92 <= hits_diff / draws <= 0.975


def _counts_in_child(queue) -> None:
    w = item_weights([f"i{k}" for k in range(50)], n_resamples=10)
    queue.put(weighted_counts(w, np.arange(50), np.zeros(50, dtype=int), 1).sum())


def test_a_forked_child_counts_with_threads_of_its_own():
    import multiprocessing

    weighted_counts(item_weights(["a"], n_resamples=10), [0], [0], 1)  # the parent's threads
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_counts_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)  # bounded: a child waiting on its parent's threads never returns
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    expected = item_weights([f"i{k}" for k in range(50)], n_resamples=10).sum()
    assert queue.get(timeout=5) == expected
