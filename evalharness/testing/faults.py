"""Deterministic fault injection for the stub server: per-item faults and a global rate limit.

A fault is triggered by a *marker* word in the item text (case-sensitive substring), and applies
to the first ``times`` attempts of each distinct conversation (the request's ``messages``), after
which the same request succeeds. ``times=None`` means always.

Fault kinds:

- ``"hang"``     sleep ``hang_s`` before answering (normally), or until the server stops;
- ``"badjson"``  HTTP 200 with a truncated, malformed JSON body;
- ``"NNN"``      an HTTP status (4xx/5xx) with an OpenAI-shaped error body; ``"429"`` also sends
  ``Retry-After`` and ``x-ratelimit-remaining-requests: 0``.

Spec strings (CLI ``--fault``, or :func:`parse_fault`): ``MARKER=KIND[:TIMES]``, where TIMES is
an integer or ``always``; e.g. ``FAULT503=503:2``, ``FAULTALWAYS500=500:always``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass

_KINDS = ("hang", "badjson")
_STATUS = re.compile(r"^[45]\d\d$")
_MARKER = re.compile(r"^\S+$")


@dataclass(frozen=True)
class Fault:
    """What to do to a request whose item text contains the marker."""

    kind: str
    """``hang``, ``badjson`` or an HTTP status code such as ``"429"`` or ``"500"``."""
    times: int | None = 1
    """Apply to the first ``times`` attempts of each conversation; ``None`` = every attempt."""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS and not _STATUS.match(self.kind):
            raise ValueError(f"fault kind {self.kind!r}: use hang, badjson or a 4xx/5xx status")
        if self.times is not None and self.times < 0:
            raise ValueError(f"fault times must be >= 0 or None (always), got {self.times}")

    @property
    def status(self) -> int | None:
        """The HTTP status this fault answers with, or None for hang / badjson."""
        return int(self.kind) if _STATUS.match(self.kind) else None


def default_faults(times: int = 1) -> dict[str, Fault]:
    """The built-in marker table; ``times`` is N for every marker except FAULTALWAYS500."""
    return {
        "FAULT429": Fault("429", times),
        "FAULT500": Fault("500", times),
        "FAULTHANG": Fault("hang", times),
        "FAULTJSON": Fault("badjson", times),
        "FAULTALWAYS500": Fault("500", None),
    }


DEFAULT_FAULTS = default_faults()


def parse_fault(spec: str) -> tuple[str, Fault]:
    """Parse ``MARKER=KIND[:TIMES]`` (TIMES an integer or ``always``) into ``(marker, Fault)``."""
    marker, sep, rest = spec.partition("=")
    if not sep or not _MARKER.match(marker):
        raise ValueError(f"fault spec {spec!r}: expected MARKER=KIND[:TIMES], e.g. FAULT503=503:2")
    kind, _, times_text = rest.partition(":")
    if not times_text:
        times: int | None = 1
    elif times_text == "always":
        times = None
    elif times_text.isdigit():
        times = int(times_text)
    else:
        raise ValueError(f"fault spec {spec!r}: TIMES must be an integer or 'always'")
    return marker, Fault(kind, times)


class FaultTable:
    """Markers → faults, with per-conversation attempt counters. Thread-safe."""

    def __init__(self, faults: dict[str, Fault]) -> None:
        # longest marker first, so FAULTALWAYS500 is never shadowed by a shorter marker
        self.faults = dict(sorted(faults.items(), key=lambda kv: -len(kv[0])))
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def match(self, item_text: str, conversation_key: str) -> tuple[str, Fault] | None:
        """The (marker, fault) to apply to this attempt, counting the attempt; None = no fault."""
        for marker, fault in self.faults.items():
            if marker in item_text:
                with self._lock:
                    key = (marker, conversation_key)
                    attempt = self._attempts.get(key, 0)
                    self._attempts[key] = attempt + 1
                if fault.times is None or attempt < fault.times:
                    return marker, fault
                return None
        return None

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()


class TokenBucket:
    """A requests-per-second limiter: ``take()`` returns 0.0 if allowed, else seconds to wait."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate_limit_rps must be > 0")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    @property
    def remaining(self) -> int:
        with self._lock:
            return math.floor(self._tokens)

    def reset(self) -> None:
        with self._lock:
            self._tokens = self.capacity
            self._stamp = time.monotonic()
