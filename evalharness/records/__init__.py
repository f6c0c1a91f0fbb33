"""Everything the harness writes to or reads from disk, one module per file format, each model
carrying its ``schema_version``. These modules import nothing else from the package.

* :mod:`.items` — golden items (``items.jsonl``, golden sets);
* :mod:`.decisions` — ``decisions.jsonl`` rows;
* :mod:`.metrics` — ``metrics.json`` rows, human agreement, intervals;
* :mod:`.manifest` — ``manifest.json``;
* :mod:`.targets` — routing targets (the ``routing:`` block, ``route --targets`` files), prevalence
  and sampling designs;
* :mod:`.routing` — ``routing.yaml``;
* :mod:`.gate` — gate files and the gate's verdict;
* :mod:`.comparison` — ``compare --json``;
* :mod:`.history` — ``history --json``;
* :mod:`.adjudication` — verdicts of an adjudication file (``<set>.adjudications.jsonl``);
* :mod:`.kinds` — outcomes, decider kinds, slice rules; :mod:`.errors` — the error tree.

When a field is renamed, bump the version and add a before-validator that upgrades old rows on
read. Never reorder or drop fields silently.
"""

from .decisions import Decision, Usage
from .items import Annotation, GoldenItem, Turn
from .kinds import (
    HUMAN_KINDS,
    HUMAN_RATER,
    HUMAN_TIER,
    MISSING_SLICE,
    OUTCOMES_NOT_OK,
    DeciderKind,
    Outcome,
    slice_values,
)
from .manifest import GoldenSetInfo, Manifest, PolicyInfo
from .metrics import (
    Difference,
    HumanAgreement,
    Interval,
    LabelAgreement,
    MetricRow,
    MetricsFile,
    ProductionRates,
    RaterScore,
    ReliabilityBin,
    ScoreQuality,
    SiteScore,
    SliceAgreement,
    SliceKey,
)

__all__ = [
    "HUMAN_KINDS", "HUMAN_RATER", "HUMAN_TIER", "MISSING_SLICE", "OUTCOMES_NOT_OK", "Annotation",
    "DeciderKind", "Decision", "Difference", "GoldenItem", "GoldenSetInfo", "HumanAgreement",
    "Interval", "LabelAgreement", "Manifest", "MetricRow", "MetricsFile", "Outcome", "PolicyInfo",
    "ProductionRates", "RaterScore", "ReliabilityBin", "ScoreQuality", "SiteScore",
    "SliceAgreement", "SliceKey", "Turn", "Usage", "slice_values",
]
