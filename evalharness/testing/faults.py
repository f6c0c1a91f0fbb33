"""Deterministic fault injection for the stub server: per-item faults, seeded random faults and a
global rate limit.

A fault is triggered by a *marker* word in the item text (case-sensitive substring), or drawn by
:class:`RandomFaults` for a share of the distinct conversations, and applies to the first ``times``
attempts of each distinct conversation (the request's ``messages``), after which the same request
succeeds. ``times=None`` means always.

Fault kinds:

- ``"hang"``     sleep ``hang_s`` before answering (normally), or until the server stops;
- ``"badjson"``  HTTP 200, ``application/json``, a body cut mid-JSON (its Content-Length right);
- ``"truncated"`` HTTP 200 whose Content-Length promises more than is sent before the socket closes;
- ``"reset"``    the connection is closed without any response;
- ``"html"``     HTTP 200 with a ``text/html`` page (a captive portal, a misrouted proxy);
- ``"empty_choices"`` HTTP 200, a well-formed completion whose ``choices`` is ``[]``;
- ``"429bare"``  HTTP 429 without ``Retry-After`` or rate-limit headers;
- ``"NNN"``      an HTTP status (4xx/5xx) with an OpenAI-shaped error body; ``"429"`` also sends
  ``Retry-After`` and ``x-ratelimit-remaining-requests: 0``.

Spec strings (CLI ``--fault``, or :func:`parse_fault`): ``MARKER=KIND[:TIMES]``, where TIMES is
an integer or ``always``; e.g. ``FAULT503=503:2``, ``FAULTALWAYS500=500:always``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_KINDS = ("hang", "badjson", "truncated", "reset", "html", "empty_choices", "429bare")
RANDOM_KINDS = ("429", "429bare", "500", "502", "503", "reset", "hang", "badjson", "truncated",
                "html", "empty_choices")
"""Every kind :class:`RandomFaults` draws from by default: one of each way a call can fail."""
_STATUS = re.compile(r"^[45]\d\d$")
_MARKER = re.compile(r"^\S+$")


@dataclass(frozen=True)
class Fault:
    """What to do to a request whose item text contains the marker."""

    kind: str
    """One of the kinds in the module docstring, or an HTTP status code such as ``"500"``."""
    times: int | None = 1
    """Apply to the first ``times`` attempts of each conversation; ``None`` = every attempt."""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS and not _STATUS.match(self.kind):
            raise ValueError(f"fault kind {self.kind!r}: use {', '.join(_KINDS)} or a 4xx/5xx status")
        if self.times is not None and self.times < 0:
            raise ValueError(f"fault times must be >= 0 or None (always), got {self.times}")

    @property
    def status(self) -> int | None:
        """The HTTP status of an ``NNN`` fault, or None for the other kinds."""
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


class RandomFaults:
    """Seeded random faults: each distinct conversation is faulted with probability ``rate``.

    The draw depends only on ``seed`` and the conversation, so a rerun (or a resumed run) sees the
    same plan. A faulted conversation gets a kind drawn uniformly from ``kinds`` and, with
    probability ``always_share``, fails every attempt; otherwise its first ``times`` attempts fail,
    ``times`` uniform in 1..``max_times``.
    """

    def __init__(self, rate: float, seed: int = 0, *, kinds: Sequence[str] = RANDOM_KINDS,
                 max_times: int = 3, always_share: float = 0.25) -> None:
        if not 0 <= rate <= 1 or not 0 <= always_share <= 1:
            raise ValueError("fault rate and always_share must be between 0 and 1")
        if max_times < 1 or not kinds:
            raise ValueError("max_times must be >= 1 and kinds non-empty")
        for kind in kinds:
            Fault(kind)  # validates the kind
        self.rate, self.seed, self.kinds = rate, seed, tuple(kinds)
        self.max_times, self.always_share = max_times, always_share

    def draw(self, conversation_key: str) -> Fault | None:
        """The fault planned for this conversation, or None."""
        digest = hashlib.sha256(f"{self.seed}:{conversation_key}".encode()).digest()
        rng = random.Random(digest)
        if rng.random() >= self.rate:
            return None
        kind = rng.choice(self.kinds)
        always = rng.random() < self.always_share
        return Fault(kind, None if always else rng.randint(1, self.max_times))

    def describe(self) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed, "kinds": list(self.kinds),
                "max_times": self.max_times, "always_share": self.always_share}


class FaultTable:
    """Markers → faults, optional :class:`RandomFaults`, per-conversation attempt counters, and a
    record of every conversation a random fault was planned for. Thread-safe."""

    def __init__(self, faults: dict[str, Fault], random_faults: RandomFaults | None = None) -> None:
        # longest marker first, so FAULTALWAYS500 is never shadowed by a shorter marker
        self.faults = dict(sorted(faults.items(), key=lambda kv: -len(kv[0])))
        self.random = random_faults
        self._attempts: dict[tuple[str, str], int] = {}
        self._planned: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def match(self, item_text: str, conversation_key: str) -> tuple[str | None, Fault] | None:
        """The (marker, fault) to apply to this attempt, counting the attempt; None = no fault.
        A random fault has marker None."""
        for marker, fault in self.faults.items():
            if marker in item_text:
                with self._lock:
                    key = (marker, conversation_key)
                    attempt = self._attempts.get(key, 0)
                    self._attempts[key] = attempt + 1
                if fault.times is None or attempt < fault.times:
                    return marker, fault
                return None
        if self.random is None:
            return None
        planned = self.random.draw(conversation_key)
        if planned is None:
            return None
        with self._lock:
            record = self._planned.setdefault(conversation_key, {
                "item": item_text, "kind": planned.kind, "times": planned.times,
                "attempts": 0, "injected": 0})
            record["attempts"] += 1
            hit = planned.times is None or record["attempts"] <= planned.times
            record["injected"] += hit
        return (None, planned) if hit else None

    def random_stats(self) -> dict[str, Any] | None:
        """What the random mode did: its settings; ``planned``, one entry per faulted conversation
        (``item``, ``kind``, ``times`` — null = always —, ``attempts`` seen, ``injected`` faults);
        and ``by_kind``: ``{kind: {"items", "always", "injected"}}``."""
        if self.random is None:
            return None
        with self._lock:
            planned = [dict(r) for r in self._planned.values()]
        by_kind: dict[str, dict[str, int]] = {}
        for record in planned:
            row = by_kind.setdefault(record["kind"], {"items": 0, "always": 0, "injected": 0})
            row["items"] += 1
            row["always"] += record["times"] is None
            row["injected"] += record["injected"]
        return {**self.random.describe(), "planned": planned, "by_kind": by_kind}

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._planned.clear()


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
