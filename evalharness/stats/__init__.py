"""Statistics for claims people sign: thin, documented wrappers over scipy and statsmodels.

Each function names the method it uses and the library that computes it; only the glue that no
library has (a one-sided bound read off a two-sided routine, a linear combination of two
independent rates) is written here, with the reason in its docstring.

* :mod:`.binomial` — exact (Clopper–Pearson) one-sided bounds and p-values, Wilson intervals;
* :mod:`.multiplicity` — Holm's step-down procedure over a family of claims;
* :mod:`.strata` — rates at a stated production prevalence (two gold strata): score tests and
  intervals for a ratio of two independent proportions, MOVER for weighted shares;
* :mod:`.paired` — paired differences of two runs on the same items (Newcombe's square-and-add),
  one-sided non-inferiority bounds;
* :mod:`.power` — the smallest drop a paired comparison can detect at its n.
"""

from .binomial import clopper_pearson, lower_bound, p_greater, p_less, upper_bound, wilson
from .multiplicity import holm
from .paired import PairedCounts, newcombe_paired_interval
from .power import detectable_difference
from .strata import Prevalence, StratifiedRate

__all__ = [
    "PairedCounts",
    "Prevalence",
    "StratifiedRate",
    "clopper_pearson",
    "detectable_difference",
    "holm",
    "lower_bound",
    "newcombe_paired_interval",
    "p_greater",
    "p_less",
    "upper_bound",
    "wilson",
]
