"""Command line: each command parses options, calls one API function and prints the result.

One module per command group; each registers its commands on the ``cli`` group from ``main``.
Exit codes: 0 success; 1 gate failed; 2 bad input or usage (one line per problem on stderr, never a
traceback); 3 the run finished over its error budget; 70 internal error (a bug: one line, and the
traceback with EVALHARNESS_DEBUG=1); 130 interrupted (the run folder is resumable).
"""

from __future__ import annotations

from . import compare, monitor, review, route  # noqa: F401 (each registers its commands)
from .main import cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="evalharness")


__all__ = ["cli", "main"]
