"""``evalharness route RUN_DIR``: which tier takes which cases, per policy (calls no model)."""

from __future__ import annotations

from pathlib import Path

import click

from ..records.errors import UsageError
from .. import api
from .main import ADJUDICATED, RUN_DIR_PATH, cli

_RATE = click.FloatRange(0, 1, min_open=True, max_open=True)


@cli.command()
@click.argument("run_dir", type=RUN_DIR_PATH)
@click.option("--precision-target", type=_RATE, metavar="P",
              help="Minimum precision of violating calls: every auto-action step (guaranteed on "
                   "validation items) and end to end. Default 0.90.")
@click.option("--recall-target", type=_RATE, metavar="R",
              help="Minimum share of violating items caught end to end. Default 0.80.")
@click.option("--fn-ceiling", "auto_clear_max_violating", type=_RATE, metavar="F",
              help="False-negative ceiling for auto-clearing: most violating items allowed among "
                   "auto-cleared items. Default 0.05.")
@click.option("--daily-volume", type=click.IntRange(min=1), metavar="N",
              help="Items per day per policy, for cost per day, human hours and QA. Default 10000.")
@click.option("--confidence", type=click.FloatRange(0.5, 1, min_open=True, max_open=True),
              metavar="C", help="Confidence of bounds, guarantees and QA sample sizes. Default 0.95.")
@click.option("--seed", type=int, help="Seed of the calibration/validation split. Default 0.")
@click.option("--calibration-share", type=_RATE, metavar="S",
              help="Share of items that choose thresholds; the rest check them. Default 0.5.")
@click.option("--prevalence", "prevalence", multiple=True, metavar="[POLICY=]P",
              help="Production share of violating items, for every policy (P) or one "
                   "(POLICY=P; repeat the flag). Every rate, volume, cost and QA size is then "
                   "estimated at it. Default: the run config's prevalence:, else the golden set's.")
@click.option("--decider", "deciders", multiple=True, metavar="NAME",
              help="Only these deciders may be tiers (repeat the flag). Default: all.")
@click.option("--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE",
              help="YAML file of routing targets (per-policy, per-label and per-slice targets, "
                   "cost overrides); replaces the run config's routing: block. Flags override it.")
@ADJUDICATED
def route(run_dir: Path, targets_file: Path | None, deciders: tuple[str, ...],
          prevalence: tuple[str, ...], adjudicated: Path | None, **flags: object) -> None:
    """Recommend which tier (classic, LLM, human site) takes which cases of each policy of RUN_DIR.

    Thresholds are chosen on a seeded calibration split and checked on the validation split;
    writes RUN_DIR/routing.yaml and RUN_DIR/routing.md (the sign-off section, with the QA
    request) and prints the recommendation, then the path of routing.yaml as the last line.
    Targets come from --targets FILE, else the run config's routing: block, else the defaults;
    flags override them.
    """
    targets = api.load_targets(targets_file) if targets_file is not None else None
    overrides = {k: v for k, v in flags.items() if v is not None}
    if deciders:
        overrides["deciders"] = list(deciders)
    if prevalence:
        overrides["prevalence"] = _prevalence(prevalence)
    plan = api.recommend_tiers(run_dir, targets, adjudicated=adjudicated, **overrides)
    if plan.adjudication is not None:
        changed = sum(plan.adjudication.changed.values())
        click.echo(f"graded against adjudicated gold {plan.adjudication.file} (version "
                   f"{plan.adjudication.version}): {changed} gold labels changed")
    for line in api.routing_summary_lines(plan):
        click.echo(line)
    click.echo(f"sign-off: {run_dir / 'routing.md'}")
    click.echo(str(run_dir / api.ROUTING_YAML))


def _prevalence(values: tuple[str, ...]) -> dict[str, object]:
    """``0.01`` (every policy: key ``*``) or ``hate_speech=0.01``, as given (checked later)."""
    out: dict[str, object] = {}
    for value in values:
        policy, sep, share = value.rpartition("=")
        try:
            out[policy if sep else "*"] = float(share)
        except ValueError:
            raise UsageError(f"--prevalence {value!r} is not a share", field="--prevalence",
                             fix="give P or POLICY=P with P between 0 and 1, e.g. 0.01") from None
    return out
