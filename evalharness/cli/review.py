"""``view`` (every decision in a local page), ``queue`` (the disagreement queue as a CSV) and
``adjudicate`` (a filled-in queue CSV into the golden set's adjudication file)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import api
from .main import RUN_DIR_PATH, cli

ADJUDICATIONS = click.Path(dir_okay=False, path_type=Path)


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=RUN_DIR_PATH, metavar="RUN [OTHER_RUN]")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--adjudications", type=ADJUDICATIONS,
              help="Where verdicts go (default: <golden set>.adjudications.jsonl next to the set).")
def view(run_dirs: tuple[Path, ...], port: int, adjudications: Path | None) -> None:
    """Serve every decision of RUN (beside OTHER_RUN's, to see what flipped) on 127.0.0.1:
    filters, search, the disagreement queue and adjudication. Ctrl-C stops it."""
    server = api.view_runs(list(run_dirs), port=port, adjudications=adjudications)
    click.echo(f"viewing {', '.join(map(str, run_dirs))} at {server.url} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@cli.command()
@click.argument("run_dir", type=RUN_DIR_PATH)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The CSV to write (default: RUN_DIR/queue.csv).")
def queue(run_dir: Path, out: Path | None) -> None:
    """Write RUN_DIR's disagreement queue (raters split, deciders confidently against gold, a
    guaranteed tier against QA) as a CSV; fill in new_label and reason, then `adjudicate` it."""
    path, n = api.write_queue(run_dir, out)
    click.echo(f"{n} items to adjudicate")
    click.echo(str(path))


@cli.command()
@click.argument("run_dir", type=RUN_DIR_PATH)
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reviewer", required=True, help="Who gives these verdicts (recorded with each).")
@click.option("--adjudications", type=ADJUDICATIONS,
              help="Where verdicts go (default: <golden set>.adjudications.jsonl next to the set).")
def adjudicate(run_dir: Path, csv_file: Path, reviewer: str, adjudications: Path | None) -> None:
    """Record the verdicts of a filled-in queue CSV (rows with a new_label) in the golden set's
    append-only adjudication file; then `report --adjudicated FILE` regrades."""
    path, verdicts = api.adjudicate_csv(run_dir, csv_file, reviewer=reviewer,
                                        adjudications=adjudications)
    click.echo(f"{len(verdicts)} verdicts recorded")
    click.echo(str(path))
