"""``python -m evalharness.importers [NAME ...] [--source DIR] [--out DIR]``: convert golden sets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..records.errors import EvalHarnessError
from . import CONVERTERS, DEFAULT_OUT, DEFAULT_SOURCE, import_golden_set, write_index


def main(argv: list[str] | None = None) -> int:
    """Convert the named sets (default: all), print one line per set; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m evalharness.importers", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"sets to convert: {', '.join(CONVERTERS)}")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder holding one sub-folder per source (default: ../shared/golden_data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: golden_sets)")
    args = parser.parse_args(argv)
    try:
        for name in args.names or list(CONVERTERS):
            print(import_golden_set(name, args.source, args.out).line(), flush=True)
        write_index(args.out)
    except EvalHarnessError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
