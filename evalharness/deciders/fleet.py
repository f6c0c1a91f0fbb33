"""A fleet of OpenAI-compatible replicas behind one llm decider (``api_bases:``): each call goes
to the healthy replica with the fewest requests in flight (each replica at most ``concurrency``
at once); a replica whose call fails with a retryable error is taken out for a while (1, 2, 4 ...
up to 60 s) and tried again after, so the call's retry goes to another one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

__all__ = ["Fleet"]

MAX_REST_S = 60.0


class Fleet:
    """The replicas' health, load and counts (one event loop at a time)."""

    def __init__(self, bases: Sequence[str], concurrency: int) -> None:
        self.bases = list(bases)
        self.concurrency = concurrency
        self._down_until = {b: 0.0 for b in self.bases}
        self._strikes = {b: 0 for b in self.bases}
        self._in_flight = {b: 0 for b in self.bases}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._turn = 0
        self.answered = {b: 0 for b in self.bases}
        self.failures = {b: 0 for b in self.bases}

    def pick(self) -> str:
        """The replica for the next call: a healthy one with the fewest calls in flight (turns
        break ties); with none healthy, the one that comes back first."""
        now = time.monotonic()
        healthy = [b for b in self.bases if self._down_until[b] <= now]
        if not healthy:
            return min(self.bases, key=self._down_until.__getitem__)
        self._turn += 1
        order = healthy[self._turn % len(healthy):] + healthy[:self._turn % len(healthy)]
        return min(order, key=self._in_flight.__getitem__)

    @asynccontextmanager
    async def slot(self, base: str) -> AsyncIterator[None]:
        """One of ``base``'s ``concurrency`` request slots."""
        if base not in self._slots:
            self._slots[base] = asyncio.Semaphore(self.concurrency)
        self._in_flight[base] += 1
        try:
            async with self._slots[base]:
                yield
        finally:
            self._in_flight[base] -= 1

    def failed(self, base: str) -> None:
        """A retryable failure: take ``base`` out for 1, 2, 4 ... (at most 60) seconds."""
        self._strikes[base] += 1
        self.failures[base] += 1
        rest = min(MAX_REST_S, 2.0 ** (self._strikes[base] - 1))
        self._down_until[base] = time.monotonic() + rest

    def succeeded(self, base: str) -> None:
        self._strikes[base] = 0
        self._down_until[base] = 0.0
        self.answered[base] += 1

    def stats(self) -> dict[str, dict[str, int]]:
        """Per replica: calls it answered and retryable failures, this session."""
        return {b: {"answered": self.answered[b], "failures": self.failures[b]} for b in self.bases}
