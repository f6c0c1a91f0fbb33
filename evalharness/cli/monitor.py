"""``evalharness monitor`` (a deployed plan against production QA) and ``evalharness import-qa``
(a BPO QA export as golden-set annotations)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import api
from .main import cli

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command()
@click.argument("routing_file", metavar="ROUTING.yaml", type=_FILE)
@click.argument("qa_file", metavar="QA.csv", type=_FILE)
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True,
              help="Family-wise error rate of every verdict, over all claims and all weeks.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for monitor.json/.md/.html (default: the routing file's).")
def monitor(routing_file: Path, qa_file: Path, alpha: float, out_dir: Path | None) -> None:
    """Check a deployed routing plan against a production QA sample (CSV or Parquet: item_id,
    tier, decided, qa, date, and policy for a plan of several policies), week by week.

    Per tier and claim: holds, too early to tell (QA items needed), or revoke. Anytime-valid
    confidence sequences: weekly looks raise no false alarm. Exit 0, 1 when a claim is revoked,
    2 on bad input.
    """
    report = api.monitor_plan(routing_file, qa_file, alpha=alpha, out_dir=out_dir)
    for claim in report.claims:
        click.echo(api.terminal_safe(f"{claim.policy} · {claim.tier}: {claim.message}",
                                     one_line=True))
    folder = out_dir or routing_file.parent
    click.echo(f"monitor: {folder / 'monitor.md'}  (and monitor.html, monitor.json)")
    raise SystemExit(report.exit_code)


@cli.command("import-qa")
@click.argument("export", type=_FILE)
@click.option("--golden-set", "golden_set", type=_FILE, required=True,
              help="The golden set whose items the export judged (not edited).")
@click.option("--policy", required=True, help="The policy the export's labels are for.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The golden set with the judgments added as annotations (JSONL).")
def import_qa(export: Path, golden_set: Path, policy: str, out: Path) -> None:
    """Add a BPO QA export (rater_id, site, item_id, label, handling_seconds, timestamp; CSV or
    Parquet) to a golden set as annotations, so human tiers and site scorecards use the vendor's
    real judgments and handling times. Exit 0, or 2 naming each bad row."""
    done = api.import_bpo_qa(export, golden_set, policy, out)
    click.echo(f"{out}: {done.judgments} judgments by {done.raters} raters at {done.sites} "
               f"sites on {done.items} items, {done.handling_seconds:,.0f} handling seconds")
