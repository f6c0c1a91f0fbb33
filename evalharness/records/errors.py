"""Errors that reach the user, each saying where it happened and how to fix it.

The tree::

    EvalHarnessError              exit 2 unless stated: bad input or usage
     ├── UsageError               a command-line flag or argument
     ├── ConfigError              an eval config file
     ├── PolicyError              a policy file
     ├── GoldenSetError           a golden set file (row-level)
     ├── DeciderError             a decider that cannot be set up (missing model, price, key)
     ├── RunDirError              a run directory that cannot be read or resumed
     ├── QaFileError              a production QA file or BPO export
     ├── AdjudicationError        an adjudication file or a verdict for one
     └── GateFailure              exit 1: a regression gate failed

Every error holds one or more :class:`Problem` s; the CLI prints one line per problem and never a
traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, and where."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        text = ": ".join([*parts, self.message])
        return f"{text} ({self.fix})" if self.fix else text


def block_problems(exc: Any, *, file: str | None, block: str, fix: str) -> list[Problem]:
    """One problem per error of a pydantic ``ValidationError`` raised for one block of a file
    (e.g. the ``routing:`` block of a run's recorded config), with the field path under it."""
    return [Problem(err["msg"], file=file, field=".".join(map(str, (block, *err["loc"]))), fix=fix)
            for err in exc.errors()]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word``, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        lowered = {str(c).lower(): str(c) for c in choices}
        return lowered.get(str(word).lower())
    return close[0]


class EvalHarnessError(Exception):
    """Base of all errors the CLI reports without a traceback."""

    exit_code = 2

    def __init__(
        self,
        message: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.problems = list(problems or [])
        if message is not None:
            self.problems.insert(0, Problem(message, file, line, field, fix))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        """One printable line per problem."""
        return [str(p) for p in self.problems]


class UsageError(EvalHarnessError):
    """A command-line flag or argument is wrong."""


class ConfigError(EvalHarnessError):
    """An eval config file is invalid."""


class PolicyError(EvalHarnessError):
    """A policy file is invalid."""


class GoldenSetError(EvalHarnessError):
    """A golden set file or one of its rows is invalid."""


class DeciderError(EvalHarnessError):
    """A decider cannot be set up: missing model file, dependency, price or API key."""


class RunDirError(EvalHarnessError):
    """A run directory is missing, incomplete or from an incompatible version."""


class QaFileError(EvalHarnessError):
    """A production QA file (for ``monitor``, or a BPO export to import) is invalid."""


class AdjudicationError(EvalHarnessError):
    """An adjudication file, or a verdict to add to one, is invalid."""


class GateFailure(EvalHarnessError):
    """A regression gate failed; each problem is one failed check."""

    exit_code = 1
