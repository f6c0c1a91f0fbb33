"""evalharness: evaluate moderation deciders against human-labeled golden sets.

The public API (the CLI is a thin layer over it)::

    from evalharness import validate, run_eval, write_report
    result = run_eval("configs/quickstart.yaml")
    result.metrics.results[0].accuracy
"""

from .api import RunResult, estimate, run_eval, validate
from .compare import CompareResult, compare_decisions, compare_runs
from .gate import GateResult, check_gate, load_gate
from .history import run_history
from .config import RunConfig, load_config
from .errors import (
    ConfigError,
    DeciderError,
    EvalHarnessError,
    GateFailure,
    GoldenSetError,
    PolicyError,
    RunDirError,
    UsageError,
)
from .goldens import read_golden_set
from .policies import Policy, load_policy
from .records import Decision, GoldenItem, Manifest, MetricRow, MetricsFile
from .registry import decider
from .report import write_report
from .routing import RoutingPlan
from .routing_plan import load_targets, recommend_tiers
from .targets import RoutingTargets
from .scorecard import build_metrics

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
    "decider",
    "load_config",
    "load_policy",
    "read_golden_set",
    "run_eval",
    "validate",
    "write_report",
]
