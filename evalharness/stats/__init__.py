"""Statistics: thin, documented wrappers over scipy, statsmodels, scikit-learn and krippendorff.

Each function names the method it uses and the library that computes it; the little glue no
library has is written here with the reason in its module docstring (a one-sided bound read off a
two-sided routine, statistics vectorised over a thousand bootstrap resamples, a reliability table
that keeps empty bins).

* :mod:`.binomial` — exact (Clopper–Pearson) one-sided bounds and p-values (scipy), Wilson
  intervals and Newcombe's difference of two independent proportions (statsmodels);
* :mod:`.classification` — confusion matrices and Cohen's kappa with non-ok outcomes (sklearn);
* :mod:`.ranking` — ROC AUC, average precision (sklearn), reliability bins, calibration error;
* :mod:`.agreement` — Krippendorff's alpha (krippendorff) and its interval;
* :mod:`.bootstrap` — paired, vectorised percentile bootstraps (``scipy.stats.bootstrap``);
* :mod:`.coded` — rates of integer-coded decisions, vectorised over resamples;
* :mod:`.paired` — two runs on the same items: McNemar (statsmodels), Newcombe's paired interval;
* :mod:`.multiplicity` — Holm's step-down procedure over a family of claims (statsmodels);
* :mod:`.strata` — rates at a stated production prevalence (two gold strata): score tests and
  intervals for a ratio of two independent proportions, MOVER for weighted shares;
* :mod:`.sampling` — design-weighted rates of a stratified golden set;
* :mod:`.power` — the smallest drop a paired comparison can detect at its n.
"""

from .binomial import clopper_pearson, lower_bound, p_greater, p_less, upper_bound, wilson
from .multiplicity import holm
from .paired import PairedCounts, mcnemar_p, newcombe_paired_interval
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
    "mcnemar_p",
    "newcombe_paired_interval",
    "p_greater",
    "p_less",
    "upper_bound",
    "wilson",
]
