"""``compare`` (two runs, optionally gated) and ``history`` (runs per policy over time)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import api
from ..records.errors import GateFailure, Problem, UsageError
from .main import ADJUDICATED, RUN_DIR_PATH, cli

OUT_FILE = click.Path(dir_okay=False, path_type=Path)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@cli.command()
@click.argument("base_run", type=RUN_DIR_PATH)
@click.argument("candidate_run", type=RUN_DIR_PATH)
@click.option("--gate", "gate_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate YAML: exit 1 naming every failed check (see configs/gate.yaml).")
@click.option("--junit", "junit_file", type=OUT_FILE,
              help="Write the gate's checks as JUnit XML (needs --gate).")
@click.option("--summary", "summary_file", type=OUT_FILE,
              help="Also write the markdown summary (PR-comment sized) to this file.")
@click.option("--json", "json_file", type=OUT_FILE,
              help="Write the full comparison (and gate verdict) as JSON.")
@click.option("--resamples", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Paired bootstrap resamples for the intervals.")
@ADJUDICATED
def compare(base_run: Path, candidate_run: Path, gate_file: Path | None, junit_file: Path | None,
            summary_file: Path | None, json_file: Path | None, resamples: int,
            adjudicated: Path | None) -> None:
    """Compare CANDIDATE_RUN with BASE_RUN item by item: flips, metric deltas with paired
    intervals, McNemar's test, cost and latency. Calls no model.

    Prints a markdown summary (also appended to $GITHUB_STEP_SUMMARY when set). Exit 0, or 1
    when --gate fails (one line per failed check on stderr), or 2 on bad input — including
    runs with no item in common and gate checks over zero items (nothing passes on nothing).
    """
    if junit_file and not gate_file:
        raise UsageError("--junit needs --gate (the test cases are the gate's checks)",
                         field="--junit", fix="add --gate configs/gate.yaml")
    result = api.compare_runs(base_run, candidate_run, gate=gate_file, n_resamples=resamples,
                              adjudicated=adjudicated)
    text = api.compare_markdown(result)
    click.echo(text, nl=False)
    if summary_file:
        _write(summary_file, text)
    if json_file:
        _write(json_file, result.model_dump_json(indent=2) + "\n")
    if junit_file and result.gate is not None:
        _write(junit_file, api.junit_xml(result.gate))
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if result.gate is not None and not result.gate.passed:
        raise GateFailure(problems=[Problem(f"gate failed: {c.line()}")
                                    for c in result.gate.failures])


@cli.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path),
                default=Path("results"), required=False)
@click.option("--policy", help="Only this policy.")
@click.option("--decider", help="Only this decider.")
@click.option("--json", "json_file", type=OUT_FILE, help="Write the history as JSON.")
@click.option("--svg", "svg_file", type=OUT_FILE,
              help="Write a chart of --metric over runs (needs --policy when there are several).")
@click.option("--metric", type=click.Choice(["accuracy", "precision", "recall", "f1"]),
              default="accuracy", show_default=True,
              help="Metric for --svg (precision/recall/f1 of the first violating label).")
def history(results_dir: Path, policy: str | None, decider: str | None, json_file: Path | None,
            svg_file: Path | None, metric: str) -> None:
    """List the runs in RESULTS_DIR (default results/) per policy, oldest first: prompt version
    and hash, deciders, accuracy and violating-label precision/recall with intervals, cost."""
    result = api.run_history(results_dir)
    api.check_history(result, policy=policy, decider=decider)
    click.echo(api.history_markdown(result, policy=policy, decider=decider), nl=False)
    if json_file:
        _write(json_file, result.model_dump_json(indent=2) + "\n")
    if svg_file:
        chosen = policy
        if chosen is None:
            if len(result.policies) != 1:
                raise UsageError("--svg draws one policy; several are in the history",
                                 field="--policy", fix=f"add --policy (one of {result.policies})")
            chosen = result.policies[0]
        _write(svg_file, api.history_svg(result, policy=chosen, metric=metric,
                                     deciders=[decider] if decider else None) + "\n")
