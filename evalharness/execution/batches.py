"""A batched decider's requests in a run: submitted to the provider's batch API, polled, and
collected into decisions, with every submission in the run folder's ``batches.jsonl`` first.

The ledger is append-only, one JSON object per line, each flushed and fsynced before the run goes
on: ``submitting`` (the uploaded input file, before the batch is created), ``submitted`` (the
batch id), ``collected`` (its final status and counts), or ``lost`` (a submission whose batch was
never created). A resumed run first polls and collects every submission of the decider not yet
collected — a batch whose id it never learnt is found by its metadata — and only then submits what
is still undecided, so a kill between submit and completion never pays twice.

An answered line becomes a decision exactly as an online answer does (same parse, outcomes and
cache); a line the provider failed, expired or cancelled becomes an ``error`` outcome, which
``--resume`` asks again.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..deciders import DecisionRequest, ModelDecider
from ..deciders.batch_api import TERMINAL, ProviderBatches
from ..deciders.model import (CallError, CallOutcome, Tries, call_with_retries, error_outcome,
                              read_outcome, shared_decisions)
from ..deciders.ratelimit import AdaptiveLimiter
from ..deciders.redaction import Redactor
from ..records import Decision
from ..records.errors import DeciderError
from .cache import ResponseCache
from .watch import CallWatch

LEDGER = "batches.jsonl"
TRANSFER_TIMEOUT_S = 600.0
"""Upload and download timeout (a batch file may be 200 MB)."""

Call = tuple[list[DecisionRequest], dict[str, Any], str]
"""The requests one call answers, its payload, and its cache key (the line's ``custom_id``)."""


@dataclass
class Submission:
    """One batch of a decider's requests, as the ledger knows it."""

    decider: str
    submission: str
    input_file_id: str
    requests: int
    batch_id: str | None = None
    status: str | None = None
    """The final status once collected; None while the batch may still be running."""
    lost: bool = False


class BatchLedger:
    """The run folder's ``batches.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def record(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields, "t": round(time.time(), 3)}) + "\n"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())

    def submissions(self) -> list[Submission]:
        """Every submission, in the order made, with what later events said of it."""
        found: dict[str, Submission] = {}
        if not self.path.exists():
            return []
        for text in self.path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(text)
            except ValueError:
                continue  # a line torn by a kill: the event it was writing did not happen
            kind, key = event.get("event"), event.get("submission")
            if kind == "submitting":
                found[key] = Submission(event["decider"], key, event["input_file_id"],
                                        event["requests"])
            elif key in found and kind == "submitted":
                found[key].batch_id = event["batch_id"]
            elif key in found and kind == "collected":
                found[key].status = event["status"]
            elif key in found and kind == "lost":
                found[key].lost = True
        return list(found.values())

    def by_decider(self) -> dict[str, list[dict[str, Any]]]:
        """Each decider's batches as the manifest lists them: id, status, requests, input file."""
        out: dict[str, list[dict[str, Any]]] = {}
        for s in self.submissions():
            out.setdefault(s.decider, []).append({
                "batch_id": s.batch_id, "status": s.status or ("lost" if s.lost else "running"),
                "requests": s.requests, "input_file_id": s.input_file_id})
        return out

    def open_for(self, decider: str) -> list[Submission]:
        return [s for s in self.submissions()
                if s.decider == decider and s.status is None and not s.lost]


class BatchDrain:
    """Submit, poll and collect one batched decider's calls."""

    def __init__(self, decider: ModelDecider, api: ProviderBatches, ledger: BatchLedger, *,
                 write: Callable[[Sequence[Decision]], None], cache: ResponseCache | None,
                 note: Callable[[str], None], redactor: Redactor) -> None:
        self.decider, self.api, self.ledger = decider, api, ledger
        self.write, self.cache, self.note = write, cache, note
        self.watch = CallWatch(decider).saw
        self.redactor = redactor
        self.config = decider.config  # type: ignore[attr-defined]
        self.calls_made = 0
        """Requests the provider executed (answered or failed; not those it expired)."""

    async def run(self, calls: Sequence[Call]) -> None:
        """Collect the submissions an earlier session left running, then submit and collect what
        is still undecided."""
        pending = {key: (group, payload) for group, payload, key in calls}
        try:
            for earlier in self.ledger.open_for(self.decider.name):
                batch = await self._recover(earlier)
                if batch is not None:
                    self.note(f"{self.decider.name}: polling batch {batch['id']}, submitted "
                              "earlier (not submitted again)")
                    await self._finish(earlier, batch, pending, known=None)
            keys = list(pending)
            size = self.config.batch_max_requests
            chunks = [keys[start:start + size] for start in range(0, len(keys), size)]
            submitted = [await self._submit(chunk, pending) for chunk in chunks]
            await asyncio.gather(*(self._finish(sub, batch, pending, known=chunk)
                                   for (sub, batch), chunk in zip(submitted, chunks)))
        except CallError as exc:
            raise self._stopped(exc) from None
        finally:
            await self.api.aclose()

    def _stopped(self, exc: CallError) -> DeciderError:
        message = self.redactor(str(exc))
        what = "refused the request" if exc.fatal else "could not be reached"
        return DeciderError(
            f"decider {self.decider.name}: the provider's batch API {what} ({message}); the run "
            "stopped", fix="check the key, model and api_base, then run again with --resume: "
                           "batches already submitted are polled, not submitted again")

    async def _retrying(self, call: Callable[[], Any], timeout_s: float | None = None) -> Any:
        async def wrapped() -> dict[str, Any]:
            return {"value": await call()}

        limiter = AdaptiveLimiter(1)
        result = await call_with_retries(wrapped, timeout_s=timeout_s or self.decider.timeout_s,
                                         max_attempts=self.decider.max_attempts, limiter=limiter,
                                         tries=Tries())
        return result["value"]

    async def _submit(self, keys: Sequence[str], pending: dict[str, Any]
                      ) -> tuple[Submission, dict[str, Any]]:
        lines = "".join(json.dumps(self.api.line(pending[key][1], key)) + "\n" for key in keys)
        submission = uuid.uuid4().hex
        file_id = await self._retrying(
            lambda: self.api.upload(lines.encode(), f"evalharness-{submission}.jsonl"),
            TRANSFER_TIMEOUT_S)
        self.ledger.record("submitting", decider=self.decider.name, submission=submission,
                           input_file_id=file_id, requests=len(keys))
        batch = await self._retrying(
            lambda: self.api.create(file_id, submission, self.config.batch_window))
        self.ledger.record("submitted", submission=submission, batch_id=batch["id"])
        self.note(f"{self.decider.name}: submitted batch {batch['id']} of {len(keys)} requests")
        return (Submission(self.decider.name, submission, file_id, len(keys), batch["id"]),
                batch)

    async def _recover(self, sub: Submission) -> dict[str, Any] | None:
        """The batch of an earlier session's submission; None (recorded as lost) when it was
        never created."""
        if sub.batch_id is not None:
            return await self._retrying(lambda: self.api.retrieve(sub.batch_id))
        batch = await self._retrying(lambda: self.api.find(sub.submission))
        if batch is None:
            self.ledger.record("lost", submission=sub.submission)
            return None
        self.ledger.record("submitted", submission=sub.submission, batch_id=batch["id"])
        sub.batch_id = batch["id"]
        return batch

    async def _finish(self, sub: Submission, batch: dict[str, Any], pending: dict[str, Any],
                      known: Sequence[str] | None) -> None:
        """Poll ``batch`` to its end, then write a decision for each of its requests still
        pending: ``known`` keys (this session's submission), or those its files name."""
        shown = ""
        while batch["status"] not in TERMINAL:
            counts = batch.get("request_counts") or {}
            status = (f"{self.decider.name}: batch {batch['id']} {batch['status']} "
                      f"{counts.get('completed', 0)}/{counts.get('total', sub.requests)}")
            if status != shown:
                self.note(status)
                shown = status
            await asyncio.sleep(self.config.batch_poll_s)
            batch = await self._retrying(lambda: self.api.retrieve(batch["id"]))
        rows: dict[str, dict[str, Any]] = {}
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if file_id:
                text = await self._retrying(lambda f=file_id: self.api.content(f),
                                            TRANSFER_TIMEOUT_S)
                for line in text.splitlines():
                    if line.strip():
                        row = json.loads(line)
                        rows[str(row.get("custom_id"))] = row
        keys = [k for k in (known if known is not None else rows) if k in pending]
        self.calls_made += sum(rows[k].get("response") is not None for k in keys if k in rows)
        turnaround = _turnaround(batch)
        written: list[Decision] = []
        for key in keys:
            group, payload = pending.pop(key)
            outcome = self._outcome(group[0], rows.get(key), batch, turnaround)
            decisions = [outcome.decision,
                         *shared_decisions(self.decider, group, outcome, self.redactor)]
            self.write(decisions)
            written += decisions
            if outcome.response is not None and self.cache is not None:
                self.cache.put(key, str(payload.get("model")), outcome.response)
        self.ledger.record("collected", submission=sub.submission, batch_id=batch["id"],
                           status=batch["status"], decided=len(keys),
                           errors=sum(d.outcome == "error" for d in written))
        self.note(f"{self.decider.name}: batch {batch['id']} {batch['status']}, "
                  f"{len(keys)} calls collected")
        for decision in written:
            self.watch(decision, None)

    def _outcome(self, request: DecisionRequest, row: dict[str, Any] | None,
                 batch: dict[str, Any], turnaround: float | None) -> CallOutcome:
        where = f"batch {batch['id']}"
        if row is None:
            errors = (batch.get("errors") or {}).get("data") or []
            why = "; ".join(str(e.get("message")) for e in errors[:3]) or "no answer for it"
            return error_outcome(self.decider, request, f"{where} {batch['status']}: {why}", 1,
                                 self.redactor)
        response = row.get("response") or {}
        if response.get("status_code") == 200:
            try:
                answer = self.api.answer(response.get("body"), turnaround)
            except CallError as exc:
                return error_outcome(self.decider, request, f"{where}: {exc}", 1, self.redactor)
            return read_outcome(self.decider, request, answer, 1, self.redactor)
        error = row.get("error") or (response.get("body") or {}).get("error") or {}
        status = response.get("status_code")
        head = f"HTTP {status}" if status else str(error.get("code") or "failed")
        return error_outcome(self.decider, request,
                             f"{where}: {head}: {error.get('message', 'no message')}", 1,
                             self.redactor)


def _turnaround(batch: dict[str, Any]) -> float | None:
    """Seconds from the batch's creation to its end, by the provider's clock."""
    end = next((batch.get(f"{s}_at") for s in ("completed", "expired", "cancelled", "failed")
                if batch.get(f"{s}_at")), None)
    created = batch.get("created_at")
    return float(end - created) if end and created else None
