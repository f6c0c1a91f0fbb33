"""Two deciders or runs on the same items: the paired difference of a binary outcome (right/wrong,
ok/not) — McNemar's exact test (statsmodels) and an interval for the difference.

Newcombe's square-and-add interval for paired proportions (Newcombe 1998, method 10; recommended
by Fagerland, Lydersen & Laake 2014) combines each run's Wilson interval (statsmodels) with the
correlation of the two runs' outcomes. No Python library ships it, so the combination is written
here; a test checks it against the worked example in Fagerland et al.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from statsmodels.stats.contingency_tables import mcnemar

from .binomial import wilson

__all__ = ["PairedCounts", "mcnemar_p", "newcombe_paired_interval"]


def mcnemar_p(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (items only the first got
    right, items only the second got right): statsmodels ``mcnemar(exact=True)``; 1.0 with no
    discordant item (nothing to test).

    Examples
    --------
    1 against 5: ``2 * P(X <= 1)`` for ``X ~ Binomial(6, 1/2)`` = 14/64.

    >>> mcnemar_p(1, 5)
    0.21875
    """
    if first_only + second_only == 0:
        return 1.0
    return float(mcnemar([[0, first_only], [second_only, 0]], exact=True).pvalue)


@dataclass(frozen=True)
class PairedCounts:
    """A binary outcome (1 = right, ok, ...) of two runs on the same ``n`` items."""

    both: int
    """Items where both runs have the outcome."""
    candidate_only: int
    """Candidate has it, base does not."""
    base_only: int
    """Base has it, candidate does not."""
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.candidate_only + self.base_only + self.neither

    @property
    def difference(self) -> float | None:
        """Candidate rate minus base rate; None with no items."""
        return (self.candidate_only - self.base_only) / self.n if self.n else None

    @property
    def discordance(self) -> float:
        """Share of items where the runs differ."""
        return (self.candidate_only + self.base_only) / self.n if self.n else 0.0


def newcombe_paired_interval(counts: PairedCounts, confidence: float = 0.95) -> tuple[float, float] | None:
    """Two-sided interval of candidate rate minus base rate (Newcombe's square-and-add with
    Wilson limits and his correction of the correlation estimate); None with no items.

    A one-sided bound at level ``c`` is the matching end of the two-sided ``2c - 1`` interval.

    Examples
    --------
    Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8
    (Cavo et al. 2012: 59 both, 6 first only, 16 second only, 80 neither): −0.0621
    (95% CI −0.1186 to −0.0046).

    >>> low, high = newcombe_paired_interval(PairedCounts(59, 6, 16, 80))
    >>> round(low, 4), round(high, 4)
    (-0.1186, -0.0046)
    """
    n = counts.n
    if n == 0:
        return None
    n11, n12, n21, n22 = counts.both, counts.candidate_only, counts.base_only, counts.neither
    p1, p2 = (n11 + n12) / n, (n11 + n21) / n
    w1, w2 = wilson(n11 + n12, n, confidence), wilson(n11 + n21, n, confidence)
    assert w1 is not None and w2 is not None
    (l1, u1), (l2, u2) = w1, w2
    margins = ((n11 + n12) * (n21 + n22) * (n11 + n21) * (n12 + n22))
    a = n11 * n22 - n12 * n21
    if margins == 0 or 0 <= a <= n / 2:
        psi = 0.0
    elif a > n / 2:
        psi = (a - n / 2) / math.sqrt(margins)
    else:
        psi = a / math.sqrt(margins)
    delta = p1 - p2
    low = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 + (u2 - p2) ** 2
                                - 2 * psi * (p1 - l1) * (u2 - p2)))
    high = delta + math.sqrt(max(0.0, (p2 - l2) ** 2 + (u1 - p1) ** 2
                                 - 2 * psi * (p2 - l2) * (u1 - p1)))
    return max(-1.0, low), min(1.0, high)
