"""The Poisson bootstrap, with each item's weights a function of its id alone.

Resample ``b`` gives item ``i`` the weight ``W[i, b] ~ Poisson(1)`` instead of drawing ``n``
items with replacement (the multinomial bootstrap ``scipy.stats.bootstrap`` does): the two agree
as ``n`` grows (Hanley & MacGibbon 2006; Chamandy et al. 2012, "Estimating uncertainty for massive
data streams"), and the Poisson weights of different items are independent. That buys two things:

* **cheap**: every count statistic of a resample is a sum of weights, so one array of weights per
  run serves every row, slice and decider (:func:`weighted_counts`), instead of a fresh set of
  resampled indices per metric;
* **mergeable**: the weight is drawn from ``(seed, item id, b)`` only — a SplitMix64 hash
  (Steele, Lea & Flood 2014) of the item id's BLAKE2b digest and ``b``, turned into a Poisson(1)
  count by the inverse of ``scipy.stats.poisson.cdf`` — so shards of a run, or a resumed run,
  give every item the same weights and their sums add up exactly.

Percentile bounds are read with :func:`evalharness.stats.bootstrap.percentile_bounds`
(resamples where the statistic is undefined dropped).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, stats

__all__ = ["N_RESAMPLES", "ItemWeights", "item_weights", "weighted_counts"]

N_RESAMPLES = 1000
"""Resamples per interval."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_CHUNK_CELLS = 4_000_000
"""Weights drawn per chunk (items x resamples): bounds the temporary 64-bit arrays."""
_POISSON_CDF = stats.poisson.cdf(np.arange(254), 1.0)
"""P(X <= k) of Poisson(1); a uniform ``u`` draws ``k = #{cdf <= u}`` (capped at 254)."""
_NEAR = 8


def _item_keys(item_ids: Sequence[str], seed: int) -> NDArray[np.uint64]:
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little")
         for i in item_ids), dtype=np.uint64, count=len(item_ids))


def _splitmix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def item_weights(item_ids: Sequence[str], n_resamples: int = N_RESAMPLES, seed: int = 0
                 ) -> NDArray[np.uint8]:
    """Poisson(1) weights of each item in each resample: shape ``(len(item_ids), n_resamples)``.

    Row ``i`` depends on ``(seed, item_ids[i])`` only, never on the other items or their order.

    Examples
    --------
    >>> w = item_weights(["a", "b", "c"], n_resamples=4000, seed=1)
    >>> w.shape, round(float(w.mean()), 1), bool((item_weights(["c"], 4000, 1) == w[2]).all())
    ((3, 4000), 1.0, True)
    """
    keys = _item_keys(item_ids, seed)
    out = np.empty((len(keys), n_resamples), dtype=np.uint8)
    step = np.arange(1, n_resamples + 1, dtype=np.uint64) * _GOLDEN
    rows = max(1, _CHUNK_CELLS // max(n_resamples, 1))

    def draw(start: int) -> None:
        with np.errstate(over="ignore"):
            z = _splitmix(keys[start:start + rows, None] + step[None, :])
        out[start:start + rows] = _poisson(((z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53))

    list(_pool().map(draw, range(0, len(keys), rows)))
    return out


def _poisson(u: NDArray[np.float64]) -> NDArray[np.uint8]:
    """``#{k : P(X <= k) <= u}`` for each uniform ``u``: ``numpy.searchsorted`` of the Poisson
    cdf, by comparing with its first 8 values (P(X >= 8) = 1e-5) and searching the rest only."""
    k = np.zeros(u.shape, dtype=np.uint8)
    for level in _POISSON_CDF[:_NEAR]:
        k += level <= u
    far = u >= _POISSON_CDF[_NEAR - 1]
    k[far] = np.searchsorted(_POISSON_CDF, u[far], side="right")
    return k


class ItemWeights:
    """The Poisson weights of a run's items, drawn once; :meth:`rows` finds the weights of any
    subset (a row, a slice, the items two deciders share)."""

    def __init__(self, item_ids: Sequence[str], n_resamples: int = N_RESAMPLES, seed: int = 0):
        unique = list(dict.fromkeys(item_ids))
        self.index = {item: i for i, item in enumerate(unique)}
        self.weights = item_weights(unique, n_resamples, seed)

    def rows(self, item_ids: Sequence[str]) -> NDArray[np.intp]:
        """Row numbers of ``item_ids`` in :attr:`weights` (``KeyError`` for an unknown id)."""
        return np.fromiter((self.index[i] for i in item_ids), dtype=np.intp, count=len(item_ids))


def weighted_counts(weights: NDArray[np.uint8], rows: ArrayLike, codes: ArrayLike, n_codes: int,
                    values: ArrayLike | None = None) -> NDArray[np.float64]:
    """Per resample, the summed weight of the items with each code: shape ``(n_resamples,
    n_codes)``. Item ``i`` is row ``rows[i]`` of ``weights`` (:func:`item_weights`) and has code
    ``codes[i]`` in ``0..n_codes-1`` (or several: ``codes`` of shape ``(n, j)``); with
    ``values``, each item's weight is multiplied by its value (e.g. a score, to sum scores).
    With every weight 1 this is ``numpy.bincount(codes, values)``. Sums are float32 (whole
    weights are exact up to 2**24 per chunk; values keep 7 significant digits) and returned as
    float64.

    One sparse product (scipy) over chunks of items: a pass over ``n x n_resamples`` weights,
    however many codes.

    Examples
    --------
    >>> w = np.array([[1, 0, 2], [0, 3, 1]], dtype=np.uint8)  # 2 items x 3 resamples
    >>> weighted_counts(w, [0, 1], [1, 1], 2)
    array([[0., 1.],
           [0., 3.],
           [0., 3.]])
    """
    rows = np.asarray(rows, dtype=np.intp)
    codes = np.asarray(codes, dtype=np.intp).reshape(rows.size, -1)
    vals = (np.ones(codes.shape, dtype=np.float32) if values is None
            else np.asarray(values, dtype=np.float32).reshape(codes.shape))
    step = max(1, _CHUNK_CELLS // max(weights.shape[1], 1))

    def chunk(start: int) -> NDArray[np.float32]:
        c, v = codes[start:start + step], vals[start:start + step]
        items = np.repeat(np.arange(len(c)), c.shape[1])
        onehot = sparse.csr_matrix((v.ravel(), (c.ravel(), items)), shape=(n_codes, len(c)))
        return onehot @ weights[rows[start:start + step]].astype(np.float32)

    out = np.zeros((n_codes, weights.shape[1]))
    for part in _pool().map(chunk, range(0, rows.size, step)):  # added in chunk order: the
        out += part  # same sums however many threads
    return out.T


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for the chunks of :func:`weighted_counts` and :func:`item_weights` (scipy's
    sparse product and numpy's array operations release the GIL). A forked child gets its own:
    the parent's threads do not exist there."""
    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                              thread_name_prefix="poisson-weights")


os.register_at_fork(after_in_child=_pool.cache_clear)
