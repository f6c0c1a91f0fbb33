"""Runs every decider over its policies' items and appends each decision as soon as it exists.

Work already in ``decisions.jsonl`` is skipped, so a resumed run does only what is missing and no
(item, policy, decider) row is ever written twice. Model calls get, in one place: the response cache
(hits are never paid twice; errors are never cached), bounded concurrency per endpoint with adaptive
rate limiting, retries with exponential backoff and jitter for retryable failures only (honouring
``Retry-After``), and a per-request timeout. A failure that survives its retries is an ``error``
outcome, never a dropped item. A decider with ``batch: true`` sends its cache misses through
its provider's batch API instead (:mod:`.batches`), with the same parse, outcomes and cache.

Combining deciders (ensembles, :class:`~evalharness.deciders.base.CombiningDecider`) run last,
each after the combining deciders among its members, on the requests every applicable member has
decided — in this session or an earlier one of a resumed run; the rest wait for ``--resume``. A
resumed run first drops any combining decision whose member decision is gone (an ``error`` row
dropped to be retried), so each is recomputed from its members' final decisions.

Runs fail closed: each model decider's first uncached request is sent alone, and an answer of
401, 403 or 404 (bad key, no permission, no such model) — or the first few calls all ending in
errors — stops the run with :class:`~evalharness.records.errors.DeciderError` (exit 2) naming the decider
and the provider's message, keys redacted. What finished is on disk; ``--resume`` retries the rest.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cache import ResponseCache, cache_key
from ..deciders import Decider, DecisionRequest, ModelDecider
from ..deciders.batch_api import ProviderBatches
from ..deciders.model import call_model, shared_decisions
from ..deciders.ratelimit import AdaptiveLimiter
from ..deciders.base import CombiningDecider, DecisionKey, run_coroutine
from ..records.errors import DeciderError
from .workplan import WorkPlan
from .progress import Progress, make_progress
from ..records import Decision
from ..deciders.redaction import Redactor
from .rundir import DecisionLog, RunDir
from .watch import CallWatch
from .batches import LEDGER, BatchDrain, BatchLedger, Call
from .sidecar import import_parquet
from .warmup import Warmup


LOOKUP_CHUNK = 500
"""Requests whose payloads and cache keys are built, and looked up in the cache, at a time."""

WRITE_BATCH = 256
"""Decisions of a recomputable decider written with one write call (a call costs ~10 us here)."""

@dataclass
class Work:
    """The requests one decider still owes."""

    decider: Decider
    requests: list[DecisionRequest]


@dataclass
class RunStats:
    """What one ``execute`` call did."""

    counts: Counter[str] = field(default_factory=Counter)
    """New decisions by outcome, plus ``cached`` and ``calls`` (model calls made)."""
    endpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per endpoint: concurrency bounds and rate limits met."""


def pending_work(plan: WorkPlan, done: set[tuple[str, str, str]]) -> list[Work]:
    """Requests without a decision yet, decider by decider, policy by policy (so the embedded
    model's prompt prefix is reused between consecutive items). Every decider of a policy shares
    its (frozen) requests."""
    asked: dict[str, list[DecisionRequest]] = {}
    work = []
    for decider in plan.deciders:
        requests = []
        for policy in plan.decider_policies(decider):
            if policy.id not in asked:
                asked[policy.id] = [DecisionRequest(item, policy) for item in plan.items_for(policy)]
            requests += [request for request in asked[policy.id]
                         if (request.item.id, policy.id, decider.name) not in done
                         and decider.applies_to(request)]
        work.append(Work(decider, requests))
    return work


def combining_order(deciders: Sequence[Decider]) -> list[CombiningDecider]:
    """The combining deciders, each after the combining deciders among its members (the work
    plan has checked that members form no cycle)."""
    combining = {d.name: d for d in deciders if isinstance(d, CombiningDecider)}
    order: list[CombiningDecider] = []
    seen: set[str] = set()

    def visit(decider: CombiningDecider) -> None:
        if decider.name not in seen:
            seen.add(decider.name)
            for member in decider.members:
                if member in combining:
                    visit(combining[member])
            order.append(decider)

    for decider in combining.values():
        visit(decider)
    return order


class _Writer:
    """Appends decisions once each, and keeps the progress display and counts current; keeps
    the decisions of combining deciders' members (``kept``) for them to read."""

    def __init__(self, out: DecisionLog, done: set[DecisionKey], progress: Progress,
                 stats: RunStats, kept: dict[DecisionKey, Decision], voters: set[str]) -> None:
        self.out, self.done, self.progress, self.stats = out, done, progress, stats
        self.kept, self.voters = kept, voters

    def write(self, decision: Decision, decider: Decider) -> None:
        self.write_many([decision], decider)

    def write_many(self, decisions: Sequence[Decision], decider: Decider) -> None:
        """Append those of ``decisions`` not written yet, with one write call."""
        fresh = []
        for decision in decisions:
            key = decision.key
            if key not in self.done:
                self.done.add(key)
                fresh.append(decision)
        self.out.append_many(fresh)
        for decision in fresh:
            if decision.decider in self.voters:
                self.kept[decision.key] = decision
            if decision.decider == decider.name:
                self.stats.counts[decision.outcome] += 1
                self.stats.counts["cached"] += decision.cached
                shown = decision
                if isinstance(decider, CombiningDecider):  # its cost is its members', counted
                    shown = decision.model_copy(update={"cost_usd": 0.0})
                self.progress.advance(shown, f"{decider.name} · {decision.policy}")

    def write_all(self, decisions: Iterable[Decision], decider: Decider) -> None:
        """Append what ``decider`` yields: in batches of ``WRITE_BATCH`` when it is
        :attr:`~evalharness.deciders.base.Decider.recomputable`, else each at once. A batch
        already made is written when the decider raises (Ctrl-C too)."""
        size = WRITE_BATCH if decider.recomputable else 1
        batch: list[Decision] = []
        try:
            for decision in decisions:
                batch.append(decision)
                if len(batch) >= size:
                    self.write_many(batch, decider)
                    batch = []
        finally:
            self.write_many(batch, decider)


def execute(
    plan: WorkPlan,
    run_dir: RunDir,
    *,
    cache: ResponseCache | None = None,
    epoch: int = 0,
    live: bool | None = None,
    warm: Sequence[Callable[[], object]] = (),
) -> RunStats:
    """Decide everything still missing in ``run_dir``; ``warm`` (what the caller does next, e.g.
    its imports) runs in the background while model calls are awaited (:class:`~.warmup.Warmup`).

    Deciders without model calls (classic, human, precomputed) run first; then all model deciders
    run concurrently, each endpoint within its own limits; then the combining deciders (ensembles).
    ``KeyboardInterrupt`` propagates after every finished decision has been written.
    """
    combining = combining_order(plan.deciders)
    drop_stale_combined(plan, run_dir, combining)
    voters = {member for decider in combining for member in decider.members}
    with run_dir.open_decisions() as out:  # cuts off a torn last line before anything is read
        earlier = run_dir.read_decisions()
        done = {d.key for d in earlier}
        kept = {d.key: d for d in earlier if d.decider in voters}
        work = [w for w in pending_work(plan, done) if w.requests]
        stats = RunStats()
        with make_progress(sum(len(w.requests) for w in work), live=live) as progress:
            writer = _Writer(out, done, progress, stats, kept, voters)
            _execute(plan, work, writer, cache, epoch, stats, combining, warm,
                     BatchLedger(run_dir.file(LEDGER)))
    return stats


def drop_stale_combined(plan: WorkPlan, run_dir: RunDir,
                        combining: Sequence[CombiningDecider]) -> int:
    """Remove combining decisions some applicable member's decision is missing for (it was an
    ``error`` row dropped for a retry), members first, so they are recomputed; returns how many.
    The file is rewritten atomically, every other row as it was."""
    if not combining:
        return 0
    decisions = run_dir.read_decisions()
    keys = {d.key for d in decisions}
    items = {item.id: item for item in plan.items}
    by_name = {d.name: d for d in plan.deciders}
    stale: set[DecisionKey] = set()
    for decider in combining:
        for d in decisions:
            if d.decider != decider.name or d.item_id not in items or d.policy not in plan.policies:
                continue
            request = DecisionRequest(items[d.item_id], plan.policies[d.policy])
            if not _ready(decider, request, keys, by_name):
                stale.add(d.key)
                keys.discard(d.key)
    if stale:
        run_dir.drop_rows(lambda row: (row.get("item_id"), row.get("policy"), row.get("decider"))
                          in stale)
    return len(stale)


def _ready(decider: CombiningDecider, request: DecisionRequest, decided: Container[DecisionKey],
           by_name: dict[str, Decider]) -> bool:
    """Every member that applies to ``request`` has decided it."""
    return all((request.item.id, request.policy.id, member) in decided
               for member in decider.members if by_name[member].applies_to(request))


def _execute(plan: WorkPlan, work: list[Work], writer: _Writer, cache: ResponseCache | None,
             epoch: int, stats: RunStats, combining: Sequence[CombiningDecider],
             warm: Sequence[Callable[[], object]], ledger: BatchLedger) -> None:
    redactor = Redactor.for_deciders(plan.deciders)
    try:
        for unit in work:
            if not isinstance(unit.decider, (ModelDecider, CombiningDecider)):
                _setup(plan, unit.decider, cache)
                writer.write_all(unit.decider.decide(unit.requests), unit.decider)
        model_work = [w for w in work if isinstance(w.decider, ModelDecider)]
        if model_work:
            for unit in model_work:
                _setup(plan, unit.decider, cache)
            called = threading.Event()
            with Warmup((import_parquet, *warm), called):  # the log's copy: pyarrow
                run_coroutine(_run_models(model_work, writer, cache, epoch, redactor, stats,
                                          called, ledger))
        owed = {id(w.decider): w for w in work}
        by_name = {d.name: d for d in plan.deciders}
        for decider in combining:
            unit = owed.get(id(decider))
            ready = [r for r in unit.requests if _ready(decider, r, writer.kept, by_name)] if unit else []
            if ready:
                _setup(plan, decider, cache)
                decider.attach_decisions(writer.kept)
                writer.write_all(decider.decide(ready), decider)
    finally:
        for decider in plan.deciders:
            decider.close()


def _setup(plan: WorkPlan, decider: Decider, cache: ResponseCache | None) -> None:
    decider.attach_cache(cache)
    decider.setup(plan.decider_policies(decider), plan.items)
    decider.ready = True


async def _run_models(work: list[Work], writer: _Writer, cache: ResponseCache | None, epoch: int,
                      redactor: Redactor, stats: RunStats, called: threading.Event,
                      ledger: BatchLedger) -> None:
    """Every model decider's work, concurrently (a batched decider's through its provider's
    batch API); ``called`` is set once a model has answered from elsewhere (an endpoint: from
    then on the run mostly waits)."""
    limiters: dict[str, AdaptiveLimiter] = {}
    drains = []
    for unit in work:
        decider = unit.decider
        assert isinstance(decider, ModelDecider)
        api = decider.batch_api()
        if api is not None:
            called.set()  # the run waits on the provider from the start
            drains.append(_drain_batched(unit, api, ledger, writer, cache, epoch, redactor,
                                         stats))
            continue
        limiter = limiters.setdefault(decider.endpoint, AdaptiveLimiter(decider.concurrency))
        drains.append(_drain(unit, limiter, writer, cache, epoch, redactor, stats, called))
    try:
        await asyncio.gather(*drains)
    finally:
        if cache is not None:
            cache.flush()  # the decisions are written; now their buffered responses
        for unit in work:
            await unit.decider.aclose()  # type: ignore[attr-defined]
        stats.endpoints = {endpoint: lim.stats() for endpoint, lim in limiters.items()}


async def _drain(unit: Work, limiter: AdaptiveLimiter, writer: _Writer, cache: ResponseCache | None,
                 epoch: int, redactor: Redactor, stats: RunStats, called: threading.Event) -> None:
    """Serve cache hits as they are looked up, and call the model for the rest with
    ``concurrency`` workers, which start as soon as the first chunk's misses are known."""
    decider = unit.decider
    assert isinstance(decider, ModelDecider)
    queue = _misses(unit.requests, decider, writer, cache, epoch)
    watch = CallWatch(decider)
    stopped = False

    async def one(group: list[DecisionRequest], payload: dict[str, Any], key: str) -> None:
        nonlocal stopped
        outcome = await call_model(decider, group[0], payload, limiter, redactor)
        if outcome.response is not None and not decider.computes_here:
            called.set()  # an endpoint answered: from now on the run mostly waits
        stats.counts["calls"] += outcome.attempts
        # on disk, in one write, before the cache is touched
        writer.write_many([outcome.decision, *shared_decisions(decider, group, outcome, redactor)],
                          decider)
        if outcome.response is not None and cache is not None:
            cache.put(key, str(payload.get("model")), outcome.response)
        try:
            watch.saw(outcome.decision, outcome.fatal)
        except DeciderError:
            stopped = True  # the other workers take no further item, whatever cancellation does
            raise

    async def worker() -> None:
        for group, payload, key in queue:
            if stopped:
                return
            await one(group, payload, key)

    for group, payload, key in queue:  # the first call alone: a bad key costs one call
        await one(group, payload, key)
        break
    await asyncio.gather(*(worker() for _ in range(min(decider.concurrency, len(unit.requests)))))


async def _drain_batched(unit: Work, api: ProviderBatches, ledger: BatchLedger, writer: _Writer,
                         cache: ResponseCache | None, epoch: int, redactor: Redactor,
                         stats: RunStats) -> None:
    """Serve cache hits, then decide the misses through the provider's batch API
    (:class:`~.batches.BatchDrain`), stopping as an online decider would when its answers are
    only errors or the provider refuses the key."""
    decider = unit.decider
    assert isinstance(decider, ModelDecider)
    calls = list(_misses(unit.requests, decider, writer, cache, epoch))
    if not calls and not ledger.open_for(decider.name):
        return

    drain = BatchDrain(decider, api, ledger, write=lambda ds: writer.write_many(ds, decider),
                       cache=cache, note=writer.progress.note, redactor=redactor)
    try:
        await drain.run(calls)
    finally:
        stats.counts["calls"] += drain.calls_made


def _misses(requests: Sequence[DecisionRequest], decider: ModelDecider, writer: _Writer,
            cache: ResponseCache | None, epoch: int
            ) -> Iterator[Call]:
    """(requests, payload, cache key) of each call (:meth:`~ModelDecider.call_groups`) the cache
    cannot answer, looked up ``LOOKUP_CHUNK`` calls at a time; the decisions of the hits are
    written on the way. The workers share it: each ``next`` runs to completion on the event
    loop's thread."""
    groups = decider.call_groups(requests)
    for start in range(0, len(groups), LOOKUP_CHUNK):
        asked = [(group, payload, cache_key(payload, epoch))
                 for group in groups[start:start + LOOKUP_CHUNK]
                 for payload in (decider.payload(group[0]),)]
        hits = cache.get_many([key for _, _, key in asked]) if cache is not None else {}
        for group, payload, key in asked:
            hit = hits.get(key)
            decisions = [_parse_cached(decider, request, hit) for request in group] if hit else []
            if decisions and all(decision is not None for decision in decisions):
                for decision in decisions:
                    writer.write(decision, decider)  # type: ignore[arg-type]
            else:
                yield group, payload, key


def _parse_cached(decider: ModelDecider, request: DecisionRequest,
                  response: str) -> Decision | None:
    """The decision a cached response (its JSON text) means, or None (ask the model again) when
    the entry cannot be read, e.g. it was written by an older version."""
    try:
        return decider.parse(request, json.loads(response), cached=True, attempts=0)
    except Exception:
        return None


