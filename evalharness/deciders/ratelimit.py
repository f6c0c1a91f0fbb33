"""Adaptive concurrency per endpoint: halve on a rate limit and pause for ``Retry-After``, grow back
by one after a window of successes (additive increase, multiplicative decrease). A 429 without
``Retry-After`` halves without pausing everyone: the retried request waits its own backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


BURST_WINDOW_S = 1.0
"""Rate limits within this many seconds of a halving (without a ``Retry-After`` to say how long
the pause is) belong to the same burst and halve nothing more."""


class AdaptiveLimiter:
    """Bounds requests in flight to one endpoint and adapts the bound to its rate limits."""

    def __init__(self, max_concurrency: int) -> None:
        self.max = max_concurrency
        self.limit = max_concurrency
        self.active = 0
        self.paused_until = 0.0
        self.rate_limited = 0
        """Rate-limit answers seen (429 or an exhausted request budget)."""
        self.lowest_limit = max_concurrency
        self._successes = 0
        self._halved_until = 0.0
        """A 429 before this time belongs to the burst that last halved the bound (a pause for an
        exhausted request budget alone halves nothing, so it does not count)."""
        self._cond = asyncio.Condition()

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot (and for any pause to end), hold it for one request."""
        async with self._cond:
            while True:
                pause = self.paused_until - self._now()
                if pause <= 0 and self.active < self.limit:
                    break
                try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                    async with asyncio.timeout(pause if pause > 0 else None):
                        await self._cond.wait()
                except TimeoutError:
                    pass
            self.active += 1
        try:
            yield
        finally:
            async with self._cond:
                self.active -= 1
                self._cond.notify_all()

    async def back_off(self, retry_after: float | None) -> None:
        """A rate limit: halve the bound and pause every request for ``retry_after`` seconds
        (no pause when the server gave none)."""
        async with self._cond:
            self.rate_limited += 1
            now = self._now()
            if now >= self._halved_until:  # one halving per 429 pause: a burst is one signal
                self.limit = max(1, self.limit // 2)
                self.lowest_limit = min(self.lowest_limit, self.limit)
                self._halved_until = now + (retry_after or BURST_WINDOW_S)
            self._successes = 0
            if retry_after:
                self.paused_until = max(self.paused_until, now + retry_after)

    async def succeeded(self, reset_in: float | None = None) -> None:
        """A success; ``reset_in`` > 0 when the endpoint said its request budget is exhausted."""
        async with self._cond:
            if reset_in:
                self.rate_limited += 1
                self.paused_until = max(self.paused_until, self._now() + reset_in)
            self._successes += 1
            if self._successes >= self.limit and self.limit < self.max:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()

    def stats(self) -> dict[str, int]:
        return {"max_concurrency": self.max, "final_concurrency": self.limit,
                "lowest_concurrency": self.lowest_limit, "rate_limited": self.rate_limited}
