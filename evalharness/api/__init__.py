"""The public API the CLI, CI jobs and notebooks call: validate, run, report, route, compare,
history. Every CLI command is one call here plus printing; the presentation functions the CLI
prints with are re-exported so the CLI imports nothing else."""

from ..report.comparison import compare_markdown
from ..report.history import history_markdown, history_svg
from ..report.junit import junit_xml
from ..report.summary import run_summary_lines
from ..report.terminal import terminal_safe
from .comparison import compare_runs
from .history import run_history
from .reports import report_run, write_report
from .routing import ROUTING_YAML, load_targets, recommend_tiers, routing_summary_lines
from .schema import config_json_schema, config_reference_markdown
from .run import RunResult, error_budget_breaches, estimate, open_cache, run_eval, validate

__all__ = ["ROUTING_YAML", "RunResult", "compare_markdown", "compare_runs", "config_json_schema",
           "config_reference_markdown", "error_budget_breaches",
           "estimate", "history_markdown", "history_svg", "junit_xml", "load_targets",
           "open_cache", "recommend_tiers", "report_run", "routing_summary_lines", "run_eval",
           "run_history", "run_summary_lines", "terminal_safe", "validate", "write_report"]
