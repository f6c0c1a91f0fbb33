"""Progress while a run decides: a live bar on a terminal, plain log lines otherwise (CI)."""

from __future__ import annotations

import sys
import time
from typing import IO

from ..records import Decision


class Progress:
    """Counts decisions, errors and cost; subclasses show them."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.errors = 0
        self.cost = 0.0
        self.started = time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, decision: Decision, label: str = "") -> None:
        self.done += 1
        self.errors += decision.outcome == "error"
        self.cost += 0.0 if decision.cached else decision.cost_usd
        self.show(label)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else None

    def show(self, label: str) -> None:
        """Display the current state."""

    def note(self, text: str) -> None:
        """Say what the run is waiting for (e.g. a provider batch's status)."""

    def close(self) -> None:
        """Finish the display."""


class LogProgress(Progress):
    """One line every ``every_s`` seconds and at the end, for logs and CI."""

    def __init__(self, total: int, stream: IO[str] | None = None, every_s: float = 10.0) -> None:
        super().__init__(total)
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.last = 0.0

    def show(self, label: str) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            eta = self.eta_s()
            print(
                f"[{self.done}/{self.total}] {label} {self.rate():.1f}/s"
                f" eta {eta:.0f}s errors {self.errors} cost ${self.cost:.4f}" if eta is not None
                else f"[{self.done}/{self.total}] {label}",
                file=self.stream, flush=True,
            )


    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class BarProgress(Progress):
    """A rich progress bar with rate, ETA, errors and cost so far."""

    EVERY_S = 0.1

    def __init__(self, total: int) -> None:
        super().__init__(total)
        from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn,
                                   TimeRemainingColumn)
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}"), transient=False,
        )
        self._task = self._bar.add_task("deciding", total=total, rate="", extra="")
        self._shown = 0.0
        self._label = ""
        self._bar.start()

    def show(self, label: str) -> None:
        """Redraw at most every ``EVERY_S`` (a rich update per decision costs more than a cached
        decision itself); the last state is drawn on close."""
        self._label = label
        now = time.monotonic()
        if now - self._shown < self.EVERY_S and self.done != self.total:
            return
        self._shown = now
        self._draw(label)

    def _draw(self, label: str) -> None:
        self._bar.update(
            self._task, completed=self.done, description=label or "deciding",
            rate=f"{self.rate():.1f}/s", extra=f"errors {self.errors}  ${self.cost:.4f}",
        )

    def note(self, text: str) -> None:
        self._label = text
        self._draw(text)

    def close(self) -> None:
        self._draw(self._label)
        self._bar.stop()


def make_progress(total: int, *, live: bool | None = None) -> Progress:
    """A bar when stderr is a terminal (or ``live`` is True), log lines otherwise."""
    if live is None:
        live = sys.stderr.isatty()
    return BarProgress(total) if live else LogProgress(total)
