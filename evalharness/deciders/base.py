"""The decider interface: one method, ``decide(requests)``, plus static metadata.

Caching, resume, progress and cost totals live once in :mod:`evalharness.execution.runner`.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..records.errors import DeciderError
from ..inputs.policies import Policy
from ..records import Decision, DeciderKind, GoldenItem
from .redaction import Redactor

T = TypeVar("T")


@dataclass(frozen=True)
class DecisionRequest:
    """One item to decide under one policy."""

    item: GoldenItem
    policy: Policy

    @property
    def gold(self) -> str | None:
        return self.item.labels.get(self.policy.id)


class Decider(ABC):
    """Gives a label (and, where it can, a confidence) for an item under a policy."""

    kind: DeciderKind

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        """Set by the runner once :meth:`setup` has run."""
        self.policy_ids: list[str] = []
        """The policies this decider decides (set when a plan is built)."""

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Cheap checks that the decider can run on these items (no model loading or training);
        raise an :class:`~evalharness.records.errors.EvalHarnessError` naming the fix if not."""

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        """Prepare before the first decision: load a model, train. Called after :meth:`check`."""

    def applies_to(self, request: DecisionRequest) -> bool:
        """Whether this decider is evaluated on ``request`` at all (default: always)."""
        return True

    @abstractmethod
    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        """Decide each request; yield each decision as soon as it is made.

        Yield at least one decision per request whose ``decider`` is ``self.name``; never raise for
        one item's failure: yield an ``error`` outcome instead.
        """

    def describe(self) -> dict[str, Any]:
        """What made these decisions (model id, parameters), for the run manifest."""
        return {"name": self.name, "kind": self.kind}

    def close(self) -> None:
        """Release models, connections or threads."""

    def decision(self, request: DecisionRequest, **fields: Any) -> Decision:
        """A :class:`Decision` for ``request`` with the item's gold and meta filled in."""
        fields.setdefault("gold", request.gold)
        return Decision(
            item_id=request.item.id,
            policy=request.policy.id,
            decider=fields.pop("decider", self.name),
            decider_kind=fields.pop("decider_kind", self.kind),
            meta=request.item.meta,
            **fields,
        )


def check_prompt_variant(policies: Sequence[Policy], variant: str, decider: str) -> None:
    """Every policy must define the prompt variant a decider runs."""
    for policy in policies:
        if variant != "default" and variant not in policy.variants:
            raise DeciderError(
                f"policy {policy.id} has no prompt variant {variant!r}",
                file=str(policy.path) if policy.path else None,
                field=f"deciders.{decider}.prompt_variants",
                fix=f"add variants: {{{variant}: ...}} to the policy, or drop the variant",
            )


FATAL_STATUS = frozenset({401, 403, 404})
"""Authentication, permission and not-found answers: every further call would fail the same way,
so the run stops instead of recording one error per item."""


class CallError(Exception):
    """One failed model call: retryable (429, 5xx, timeout, connection, malformed body) or not;
    ``fatal`` (401, 403, 404) when no call to this endpoint can succeed."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    @property
    def fatal(self) -> bool:
        return self.status in FATAL_STATUS

    @property
    def rate_limited(self) -> bool:
        return self.status == 429

    @staticmethod
    def retry_after_of(headers: Mapping[str, str]) -> float | None:
        """Seconds to wait from ``Retry-After`` / ``retry-after-ms`` headers, if any."""
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            if "retry-after-ms" in lower:
                return float(lower["retry-after-ms"]) / 1000
            if "retry-after" in lower:
                return float(lower["retry-after"])
        except ValueError:
            return None
        return None

    @staticmethod
    def rate_limit_hint(headers: Mapping[str, str]) -> float | None:
        """Seconds until the request budget resets when ``x-ratelimit-remaining-requests`` is 0."""
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("x-ratelimit-remaining-requests", "").strip() != "0":
            return None
        return _duration_s(lower.get("x-ratelimit-reset-requests", "1s"))

    @classmethod
    def from_status(cls, status: int, message: str, headers: Mapping[str, str]) -> CallError:
        retryable = status in (408, 409, 429) or status >= 500
        return cls(f"HTTP {status}: {message}", retryable=retryable, status=status,
                   retry_after=cls.retry_after_of(headers))


def _duration_s(text: str) -> float:
    """Parse OpenAI-style durations such as ``1s``, ``6m0s``, ``250ms``."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(ms|s|m|h)", text):
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or 1.0


class ModelDecider(Decider):
    """A decider that calls a model once per request. The runner adds what every model call needs:
    the response cache, bounded concurrency, adaptive rate limiting, retries and timeouts.

    Subclasses give the request (:meth:`payload`: everything that changes the answer, which is also
    the cache key), make the call (:meth:`call`: raise :class:`CallError` on failure) and read the
    answer (:meth:`parse`).
    """

    concurrency: int = 1
    timeout_s: float = 60.0
    max_attempts: int = 1

    @property
    def endpoint(self) -> str:
        """Requests to the same endpoint share one concurrency and rate limit."""
        return self.name

    @abstractmethod
    def payload(self, request: DecisionRequest) -> dict[str, Any]:
        """The request as JSON-able data; it is the cache key, so only output-affecting inputs."""

    @abstractmethod
    async def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Make the call; return a JSON-able response (it is what the cache stores)."""

    @abstractmethod
    def parse(self, request: DecisionRequest, response: dict[str, Any], *, cached: bool,
              attempts: int) -> Decision:
        """The decision a response means."""

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        """Decide each request with one call, without the response cache, retries or rate
        limits — a convenience for notebooks. Runs go through :mod:`evalharness.execution.runner`,
        which adds all of those. A failed call is an ``error`` outcome, its message redacted."""
        redact = Redactor.for_deciders([self])

        async def one(request: DecisionRequest) -> Decision:
            try:
                response = await asyncio.wait_for(self.call(self.payload(request)), self.timeout_s)
                return self.parse(request, response, cached=False, attempts=1)
            except Exception as exc:  # an outcome, not a crash
                return self.decision(request, label=None, outcome="error", attempts=1,
                                     error=redact(f"{type(exc).__name__}: {exc}"))

        async def every() -> list[Decision]:
            return [await one(request) for request in requests]

        yield from run_coroutine(every())


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, also from code already inside an event loop (a notebook): then the
    coroutine runs on its own loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
