"""evalharness: evaluate moderation deciders against human-labeled golden sets.

The public API (the CLI is a thin layer over it)::

    from evalharness import validate, run_eval, write_report
    result = run_eval("configs/quickstart.yaml")
    result.metrics.results[0].accuracy
"""

from ._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    ".api": ("RunResult", "compare_runs", "estimate", "load_targets", "recommend_tiers", "run_eval",
             "run_history", "validate", "write_report"),
    ".deciders": ("Decider", "DeciderOptions", "decider"),
    ".execution.workplan": ("load_config",),
    ".gating.compare": ("compare_decisions",),
    ".gating.gate": ("check_gate",),
    ".inputs.config": ("RunConfig",),
    ".inputs.gate_file": ("load_gate",),
    ".inputs.goldens": ("read_golden_set",),
    ".inputs.policies": ("Policy", "load_policy"),
    ".records": ("Decision", "GoldenItem", "Manifest", "MetricRow", "MetricsFile"),
    ".records.comparison": ("CompareResult",),
    ".records.errors": ("ConfigError", "DeciderError", "EvalHarnessError", "GateFailure",
                        "GoldenSetError", "PolicyError", "RunDirError", "UsageError"),
    ".records.gate": ("GateResult",),
    ".records.routing": ("RoutingPlan",),
    ".records.targets": ("RoutingTargets",),
    ".scoring.metrics_file": ("build_metrics",),
})
