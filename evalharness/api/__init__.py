"""The public API the CLI, CI jobs and notebooks call: validate, run, report, route, compare,
history. Every CLI command is one call here plus printing; the presentation functions the CLI
prints with are re-exported so the CLI imports nothing else. Each is imported when first used, so a
command loads only what it needs."""

from .._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "..report.comparison": ("compare_markdown",),
    "..report.history": ("history_markdown", "history_svg"),
    "..report.junit": ("junit_xml",),
    "..report.summary": ("run_summary_lines",),
    "..report.terminal": ("terminal_safe",),
    ".adjudication": ("adjudicate_csv", "load_adjudication"),
    ".comparison": ("compare_runs",),
    ".export": ("EXPORT_FORMATS", "export_run"),
    ".history": ("check_history", "run_history"),
    ".merge": ("merge_runs",),
    ".monitor": ("import_bpo_qa", "monitor_plan"),
    ".ray_executor": ("run_on_ray",),
    ".reports": ("report_run", "write_report"),
    ".review": ("open_review", "view_runs", "write_queue"),
    ".routing": ("ROUTING_YAML", "load_targets", "recommend_tiers", "routing_summary_lines"),
    ".schema": ("config_json_schema", "config_reference_markdown"),
    ".run": ("RunResult", "error_budget_breaches", "estimate", "open_cache", "run_eval", "validate"),
})
