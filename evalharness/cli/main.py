"""The ``evalharness`` group and the run-level commands: validate, run, report, schema."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .. import api
from ..records.errors import EvalHarnessError, UsageError

CONFIG_PATH = click.Path(dir_okay=False, path_type=Path)
RUN_DIR_PATH = click.Path(file_okay=False, path_type=Path)


INTERNAL_ERROR = 70
"""Exit code of an unexpected failure (EX_SOFTWARE): distinct from a failed gate (1) and bad input (2)."""


class _Cli(click.Group):
    """Maps errors to one line each and an exit code, with no traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except EvalHarnessError as exc:
            for line in exc.lines():
                click.echo(api.terminal_safe(f"error: {line}", one_line=True), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(2)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            click.echo(api.terminal_safe(f"error: {exc.format_message()}{hint}"), err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as exc:
            click.echo(api.terminal_safe(f"error: {exc}"), err=True)
            sys.exit(2)
        except Exception as exc:  # a bug, not bad input: one line, a distinct exit code
            if os.environ.get("EVALHARNESS_DEBUG"):
                raise
            click.echo(api.terminal_safe(f"error: internal error: {type(exc).__name__}: {exc} (a bug "
                       "in evalharness; rerun with EVALHARNESS_DEBUG=1 for the traceback and report it)"),
                       err=True)
            sys.exit(INTERNAL_ERROR)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evalharness")
def cli() -> None:
    """Evaluate moderation deciders (LLMs, classic classifiers, human raters) against
    human-labeled golden sets, per policy, with cost and quality evidence."""


@cli.command()
@click.argument("config", type=CONFIG_PATH)
def validate(config: Path) -> None:
    """Check CONFIG, its policies, golden set and deciders. Exit 0, or 2 naming each problem."""
    plan = api.validate(config)
    counts = ", ".join(f"{pid}: {len(plan.items_for(p))} items" for pid, p in plan.policies.items())
    click.echo(f"{config}: ok — {len(plan.items)} items ({counts}); "
               f"deciders: {', '.join(d.name for d in plan.deciders)}")


def _summary(result: api.RunResult) -> None:
    for line in api.run_summary_lines(result.metrics, result.manifest):
        click.echo(line)


@cli.command()
@click.argument("config", type=CONFIG_PATH)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N selected items.")
@click.option("--run-id", help="Name of the run folder (default: <timestamp>-<config name>).")
@click.option("--resume", is_flag=True, help="Finish an interrupted run: only missing decisions.")
@click.option("--out", "out_dir", type=RUN_DIR_PATH, help="Parent folder of run folders (default results/).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--dry-run", is_flag=True, help="Estimate calls, tokens and cost; call nothing.")
@click.option("--shard", metavar="K/N", help="Decide only the K-th of N shares of the items (by "
              "hashed item id) into its own run folder; `merge` combines the N folders.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: run the shards as Ray tasks (evalharness[ray]), each into "
              "OUT/<run_id>-shards/, then merge them into OUT/<run_id>.")
@click.option("--ray-address", metavar="ADDR", help="The Ray cluster to use (default: start a "
              "local one); OUT must be storage its nodes share.")
@click.option("--shards", type=click.IntRange(min=1), help="With --executor ray: how many shards "
              "(default: the cluster's CPUs).")
def run(config: Path, limit: int | None, run_id: str | None, resume: bool, out_dir: Path | None,
        no_cache: bool, dry_run: bool, shard: str | None, executor: str, ray_address: str | None,
        shards: int | None) -> None:
    """Run CONFIG and write OUT/<run_id>/; prints the run folder as the last line.

    Exit 0, 2 on bad input, 3 when the run finished over its error budget (max_error_rate),
    130 when interrupted (finish with --resume).
    """
    if dry_run:
        _print_estimate(api.estimate(config, limit=limit, use_cache=not no_cache))
        return
    if executor == "local" and (ray_address or shards):
        raise UsageError("--ray-address and --shards apply to --executor ray",
                         field="--executor", fix="add --executor ray, or drop them")
    if executor == "ray" and shard:
        raise UsageError("--executor ray makes the shards itself", field="--shard",
                         fix="drop --shard (use --shards N for how many)")
    try:
        if executor == "ray":
            result = api.run_on_ray(config, address=ray_address, shards=shards, out_dir=out_dir,
                                    run_id=run_id, resume=resume, use_cache=not no_cache,
                                    limit=limit)
        else:
            result = api.run_eval(config, limit=limit, run_id=run_id, resume=resume,
                                  out_dir=out_dir, use_cache=not no_cache, shard=_shard(shard))
    except KeyboardInterrupt:
        click.echo("interrupted: every finished decision is saved; rerun with --resume "
                   "to finish the rest", err=True)
        sys.exit(130)
    _summary(result)
    for line in result.budget_breaches:
        click.echo(api.terminal_safe(f"error budget exceeded: {line}", one_line=True), err=True)
    click.echo(f"report: {result.run_dir / 'report.md'}  (and report.html, self-contained)")
    click.echo(str(result.run_dir))
    sys.exit(result.exit_code)


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    k, slash, n = text.partition("/")
    if not (slash and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard {text!r} is not K/N with 1 <= K <= N", field="--shard",
                         fix="e.g. --shard 2/4")
    return int(k), int(n)


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=RUN_DIR_PATH, metavar="RUN...")
@click.option("--out", "out_dir", type=RUN_DIR_PATH, required=True,
              help="Parent folder of the merged run folder.")
@click.option("--run-id", help="Name of the merged run folder (default: <timestamp>-<name>-merged).")
def merge(run_dirs: tuple[Path, ...], out_dir: Path, run_id: str | None) -> None:
    """Merge the N folders of `run --shard K/N` into one run (metrics, reports) equal to the
    unsharded run's; refuses shards of different configs, policies, prices or golden sets.
    Prints the merged folder as the last line. Exit 0, 2 on bad input, 3 over the error budget."""
    result = api.merge_runs(list(run_dirs), out_dir, run_id=run_id)
    _summary(result)
    click.echo(str(result.run_dir))
    sys.exit(result.exit_code)


def _print_estimate(estimate: "api.RunEstimate") -> None:
    click.echo("| decider | model | decisions | calls | cached | prompt tokens (est.) "
               "| completion tokens (est.) | cost (est.) | priced by |")
    click.echo("|---|---|---|---|---|---|---|---|---|")
    for r in estimate.rows:
        click.echo(f"| {r.decider} | {r.model} | {r.decisions} | {r.calls} | {r.cached} "
                   f"| {r.prompt_tokens} | {r.completion_tokens} | ${r.cost_usd:.4f} | {r.basis} |")
    click.echo(f"dry run: {estimate.calls} model calls, about ${estimate.run_cost_usd:.4f} to "
               f"run; all deciders' decisions together cost ${estimate.cost_usd:.4f} (humans at "
               "their hourly rate); nothing was called")


ADJUDICATED = click.option(
    "--adjudicated", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="Grade against the verdicts of this adjudication file (<set>.adjudications.jsonl).")


@cli.command()
@click.argument("run_dir", type=RUN_DIR_PATH)
@ADJUDICATED
def report(run_dir: Path, adjudicated: Path | None) -> None:
    """Recompute metrics.json and re-render the reports of RUN_DIR (calls no model); with
    --adjudicated, against adjudicated gold, saying what moved."""
    api.write_report(run_dir, adjudicated=adjudicated)
    click.echo(str(run_dir / "report.html"))
    click.echo(str(run_dir / "report.md"))


@cli.command()
@click.argument("run_dir", type=RUN_DIR_PATH)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "xlsx"]), default="parquet",
              show_default=True, help="Parquet or CSV (one file per table) or one xlsx workbook.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files (default: RUN_DIR/export).")
def export(run_dir: Path, fmt: str, out_dir: Path | None) -> None:
    """Write RUN_DIR's decisions, metrics and routing plan as flat tables for a warehouse or a
    spreadsheet (calls no model); prints each file written."""
    for path in api.export_run(run_dir, fmt, out_dir):
        click.echo(str(path))


@cli.command()
@click.option("--markdown", is_flag=True, help="Print the config reference as markdown instead.")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of eval configs (for editor completion)."""
    click.echo(api.config_reference_markdown() if markdown
               else json.dumps(api.config_json_schema(), indent=2),
               nl=not markdown)


