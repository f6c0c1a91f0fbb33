"""``python -m evalharness`` runs the command line."""

from .cli import main

main()
