"""evalharness: evaluate moderation deciders against human-labeled golden sets.

The public API (the CLI is a thin layer over it)::

    from evalharness import validate, run_eval, write_report
    result = run_eval("configs/quickstart.yaml")
    result.metrics.results[0].accuracy
"""

from .api import (
    RunResult,
    compare_runs,
    estimate,
    load_targets,
    recommend_tiers,
    run_eval,
    run_history,
    validate,
    write_report,
)
from .deciders import Decider, DeciderOptions, decider
from .execution.workplan import load_config
from .gating.compare import compare_decisions
from .gating.gate import check_gate
from .inputs.config import RunConfig
from .inputs.gate_file import load_gate
from .inputs.goldens import read_golden_set
from .inputs.policies import Policy, load_policy
from .records import Decision, GoldenItem, Manifest, MetricRow, MetricsFile
from .records.comparison import CompareResult
from .records.errors import (
    ConfigError,
    DeciderError,
    EvalHarnessError,
    GateFailure,
    GoldenSetError,
    PolicyError,
    RunDirError,
    UsageError,
)
from .records.gate import GateResult
from .records.routing import RoutingPlan
from .records.targets import RoutingTargets
from .scoring.metrics_file import build_metrics

__all__ = [
    "CompareResult",
    "GateResult",
    "RoutingPlan",
    "RoutingTargets",
    "check_gate",
    "compare_decisions",
    "compare_runs",
    "estimate",
    "load_gate",
    "load_targets",
    "recommend_tiers",
    "run_history",
    "ConfigError",
    "Decision",
    "DeciderError",
    "EvalHarnessError",
    "GateFailure",
    "GoldenItem",
    "GoldenSetError",
    "Manifest",
    "MetricRow",
    "MetricsFile",
    "Policy",
    "PolicyError",
    "RunConfig",
    "RunDirError",
    "RunResult",
    "UsageError",
    "build_metrics",
    "Decider",
    "DeciderOptions",
    "decider",
    "load_config",
    "load_policy",
    "read_golden_set",
    "run_eval",
    "validate",
    "write_report",
]
