"""Deciders that call a model: the call interface (``payload`` / ``call`` / ``parse``), the error
a failed call raises, and the one call policy every model call follows — in a run and in a
notebook alike: a timeout, retries of retryable failures only (exponential backoff with jitter,
never sooner than the server's ``Retry-After``), and the endpoint's adaptive concurrency limit."""

from __future__ import annotations

import asyncio
import json
import re
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity import wait_random_exponential

from ..records import Decision
from .base import Decider, DecisionRequest, run_coroutine
from .ratelimit import AdaptiveLimiter
from .redaction import Redactor

__all__ = ["FATAL_STATUS", "CallError", "CallOutcome", "ModelDecider", "Tries", "call_model",
           "call_with_retries", "connection_failure", "connection_reset", "error_outcome",
           "json_body", "openai_call_errors", "read_outcome", "shared_decisions",
           "truncated_body"]


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


def truncated_body(cause: BaseException) -> str:
    """The error message of a response body cut short by the server."""
    return ("truncated body: the connection closed before the whole response arrived "
            f"({type(cause).__name__}: {cause})")


def connection_reset(cause: BaseException) -> str:
    """The error message of a connection the server closed without answering."""
    return ("connection reset: the server closed the connection without a response "
            f"({type(cause).__name__}: {cause})")


def connection_failure(exc: BaseException) -> str:
    """Name what went wrong on the wire, from the transport error behind ``exc`` (the SDK's own
    message is only "Connection error."): a reset, a body cut short, or another connection error."""
    cause = exc.__cause__ or exc.__context__ or exc
    text = str(cause).lower()
    if "complete message body" in text or "incomplete" in text:
        return truncated_body(cause)
    if isinstance(cause, ConnectionResetError) or "without sending a response" in text \
            or "reset" in text:
        return connection_reset(cause)
    return f"connection error: {type(cause).__name__}: {cause}"


def json_body(content_type: str, text: str) -> Any:
    """The parsed body of a successful answer; a retryable :class:`CallError` when it is not JSON
    (by its content type, or because it does not parse)."""
    if not content_type.split(";")[0].strip().endswith("json"):
        raise CallError(f"malformed response: content type {content_type!r}, not JSON: "
                        f"{text[:200]!r}", retryable=True)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CallError(f"malformed JSON in the response: {exc}", retryable=True) from None


@contextmanager
def openai_call_errors() -> Iterator[None]:
    """Turn the openai SDK's failures into :class:`CallError` s: status answers as they are;
    timeouts, dropped connections, cut bodies and bodies that are not JSON as retryable, each
    message naming which it was."""
    import openai

    try:
        yield
    except openai.APIStatusError as exc:
        raise CallError.from_status(exc.status_code, str(exc), exc.response.headers) from None
    except openai.APITimeoutError as exc:
        raise CallError(f"timeout: {exc}", retryable=True) from None
    except openai.APIConnectionError as exc:
        raise CallError(connection_failure(exc), retryable=True) from None
    except ValueError as exc:  # a body that is not JSON
        raise CallError(f"malformed JSON in the response: {exc}", retryable=True) from None


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
    computes_here = False
    """Its calls run on this machine's cores (an embedded model), not on an endpoint's: the run
    then does no background work beside them (:class:`~evalharness.execution.warmup.Warmup`)."""

    @property
    def endpoint(self) -> str:
        """Requests to the same endpoint share one concurrency and rate limit."""
        return self.name

    answers_per_call = 1
    """Policies one call answers (a bundle's size)."""

    def call_groups(self, requests: Sequence[DecisionRequest]) -> list[list[DecisionRequest]]:
        """The requests one call answers together, in order: each alone, unless the decider
        asks several policies at once (a bundle: an item's requests). Every request of a group
        has the same :meth:`payload`; :meth:`parse` reads each one's decision from the answer."""
        return [[request] for request in requests]

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

    def batch_api(self) -> Any:
        """The provider batch API this decider's calls go through instead of one call each
        (``batch: true``: a :class:`~.batch_api.ProviderBatches`), or None."""
        return None

    async def aclose(self) -> None:
        """Close what :meth:`call` opened on the running event loop (connection pools); called
        once the calls of a run, or of :meth:`decide`, are done."""

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        """Decide with the same retries, timeouts and rate limits as a run, without the response
        cache (for notebooks; runs go through :mod:`evalharness.execution.runner`)."""

        async def every() -> list[Decision]:
            limiter = AdaptiveLimiter(self.concurrency)
            redactor = Redactor.for_deciders([self])
            groups = self.call_groups(requests)
            try:
                outcomes = await asyncio.gather(*(
                    call_model(self, group[0], self.payload(group[0]), limiter, redactor)
                    for group in groups))
            finally:
                await self.aclose()
            return [decision for group, outcome in zip(groups, outcomes)
                    for decision in (outcome.decision,
                                     *shared_decisions(self, group, outcome, redactor))]

        yield from run_coroutine(every())


@dataclass(frozen=True)
class CallOutcome:
    """What one model call gave: the decision; the response to cache (None for an error, which
    is an outcome and never cached); when the provider answered 401, 403 or 404, its redacted
    message (the run must stop); and how many attempts it took."""

    decision: Decision
    response: dict[str, Any] | None
    fatal: str | None
    attempts: int


def _wait(retry_state: RetryCallState) -> float:
    """Exponential backoff with full jitter, never shorter than the server's ``Retry-After``."""
    backoff = wait_random_exponential(multiplier=0.5, max=20)(retry_state)
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    retry_after = getattr(exc, "retry_after", None) or 0.0
    return max(backoff, min(retry_after, 120.0))


@dataclass
class Tries:
    """Attempts made so far by one :func:`call_with_retries` (read also when it raises)."""

    n: int = 0


async def call_with_retries(call: Callable[[], Awaitable[dict[str, Any]]], *, timeout_s: float,
                            max_attempts: int, limiter: AdaptiveLimiter,
                            tries: Tries | None = None) -> dict[str, Any]:
    """``call()`` under the call policy: retries of retryable :class:`CallError` s only
    (exponential backoff with jitter, never sooner than ``Retry-After``), ``timeout_s`` per
    attempt, one of the endpoint's ``limiter`` slots per attempt. Raises the last error."""
    tries = tries if tries is not None else Tries()
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=_wait,
        retry=retry_if_exception(lambda e: isinstance(e, CallError) and e.retryable),
        reraise=True,
    ):
        with attempt:
            tries.n += 1
            async with limiter.slot():
                try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                    async with asyncio.timeout(timeout_s):
                        response = await call()
                except TimeoutError:
                    raise CallError(f"timeout: no answer within {timeout_s:g} s",
                                    retryable=True) from None
                except CallError as exc:
                    if exc.rate_limited:
                        await limiter.back_off(exc.retry_after)
                    raise
            await limiter.succeeded(response.get("rate_limit"))
    return response


async def call_model(
    decider: ModelDecider, request: DecisionRequest, payload: dict[str, Any],
    limiter: AdaptiveLimiter, redactor: Redactor,
) -> CallOutcome:
    """Call the model under the call policy (:func:`call_with_retries`). Never raises for a
    failed call: it is an ``error`` decision, its message redacted."""
    tries = Tries()
    try:
        response = await call_with_retries(
            lambda: decider.call(payload), timeout_s=decider.timeout_s,
            max_attempts=decider.max_attempts, limiter=limiter, tries=tries)
    except CallError as exc:
        return error_outcome(decider, request, str(exc), tries.n, redactor, fatal=exc.fatal)
    except Exception as exc:  # a bug or an unexpected client failure: an outcome, not a crash
        return error_outcome(decider, request, f"{type(exc).__name__}: {exc}", tries.n, redactor)
    return read_outcome(decider, request, response, tries.n, redactor)


def read_outcome(decider: ModelDecider, request: DecisionRequest, response: dict[str, Any],
                 attempts: int, redactor: Redactor) -> CallOutcome:
    """The outcome of an answered call: its decision (raw text redacted), or an ``error`` when
    the answer cannot be read."""
    try:
        decision = decider.parse(request, response, cached=False, attempts=attempts)
    except Exception as exc:
        return error_outcome(decider, request,
                             f"could not read the response: {type(exc).__name__}: {exc}",
                             attempts, redactor)
    if decision.raw:
        decision.raw = redactor(decision.raw)
    return CallOutcome(decision, response, None, attempts)


def error_outcome(decider: ModelDecider, request: DecisionRequest, message: str, attempts: int,
                  redactor: Redactor, *, fatal: bool = False) -> CallOutcome:
    """A failed call: an ``error`` decision, its message redacted (and the run-stopping
    ``fatal`` message of a 401, 403 or 404)."""
    message = redactor(message)
    error = decider.decision(request, label=None, outcome="error", attempts=attempts,
                             error=message)
    return CallOutcome(error, None, message if fatal else None, attempts)


def shared_decisions(decider: ModelDecider, group: Sequence[DecisionRequest], outcome: CallOutcome,
                     redactor: Redactor) -> list[Decision]:
    """The decisions of ``group[1:]``, answered by the call that made ``outcome`` for
    ``group[0]``: each read from its response (no attempt of their own: the call was made once),
    or the call's error."""
    out = []
    for request in group[1:]:
        message = outcome.decision.error
        if outcome.response is not None:
            try:
                decision = decider.parse(request, outcome.response, cached=False, attempts=0)
            except Exception as exc:
                message = redactor(f"could not read the response: {type(exc).__name__}: {exc}")
            else:
                if decision.raw:
                    decision.raw = redactor(decision.raw)
                out.append(decision)
                continue
        out.append(decider.decision(request, label=None, outcome="error", attempts=0,
                                    error=message))
    return out
