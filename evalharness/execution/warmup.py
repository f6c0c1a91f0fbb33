"""Work a run needs only at its end — imports, mostly — done in a daemon thread while its model
calls are awaited: the event loop is idle most of that time, so the ~2 s of the analysis stack's
imports (scipy.stats, statsmodels, scikit-learn) leave the start of the run instead of delaying
its first request (``bench/api_throughput.py``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


class Warmup:
    """``with Warmup(steps, begin):`` calls ``steps`` in order in the background during the block
    once ``begin`` is set, and waits for them when the block ends normally, so nothing imports
    concurrently after it; when the block raises (Ctrl-C too) it does not wait, and the steps not
    begun are dropped. The runner sets ``begin`` when an endpoint has answered: the first call's
    own imports (aiohttp) are done by then; a rerun answered wholly from the cache (busy, not
    waiting) and an embedded model (its threads use every core) run the steps only at the end
    instead of contending with them. A step that fails ends the warmup quietly: what it prepares
    raises where it is really used."""

    def __init__(self, steps: Sequence[Callable[[], object]], begin: threading.Event) -> None:
        self.steps = tuple(steps)
        self.begin = begin
        self._dropped = False
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        self.begin.wait()
        for step in self.steps:
            if self._dropped:
                return
            try:
                step()
            except Exception:
                return

    def __enter__(self) -> Warmup:
        if self.steps:
            self._thread = threading.Thread(target=self._run, name="evalharness-warmup",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._thread is None:
            return
        self._dropped = exc_type is not None
        self.begin.set()  # wakes a thread still waiting: to finish, or to stop
        if not self._dropped:
            self._thread.join()
