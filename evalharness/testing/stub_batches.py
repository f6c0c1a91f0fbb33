"""The stub server's provider Batch API: OpenAI's files and batches surface, on loopback.

``POST /v1/files`` (multipart ``file`` + ``purpose``), ``GET /v1/files/{id}`` and
``/v1/files/{id}/content``; ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/batches``
(newest first, with ``after`` / ``limit``) and ``POST /v1/batches/{id}/cancel``.

A batch moves ``validating`` → ``in_progress`` → ``finalizing`` → ``completed`` as time passes
(``duration_s`` from creation to completion, answered lines counted in ``request_counts`` on
the way), or ``failed`` when its input file does not validate (lines that are not JSON, a
missing or repeated ``custom_id``, another method, URL or model: ``errors.data`` names each
line). Each line is answered as the chat endpoint would answer it (the same model and per-item
faults: a fault with a status becomes an error line with that status; a hang, reset or broken
body, a 500). With ``answer_limit``, a batch answers that many lines and then expires: the rest
go to the error file with code ``batch_expired``, as the provider reports them. Every request is
checked against ``api_key`` like the chat endpoint (401 quoting the key sent).

:meth:`BatchApi.stats` counts files uploaded, batches created, status reads and lines answered:
a test can tell that a resumed run polled the batch it had submitted instead of paying again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .fault_responses import error as _error
from .fault_responses import key_refused
from .fault_responses import json_response as _json
from .stub_model import RequestError, item_text, last_user_text

TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created_at: float
    lines: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    stamps: dict[str, float] = field(default_factory=dict)
    answered: int = 0
    failed: int = 0


class BatchApi:
    """Files and batches of one stub server (state behind a lock; handlers on its loop)."""

    def __init__(self, app: Any, *, duration_s: float = 0.3,
                 answer_limit: int | None = None) -> None:
        """``app`` is the :class:`~.stub_app.StubApp` whose key, model and faults lines meet."""
        self.app = app
        self.duration_s = duration_s
        self.answer_limit = answer_limit
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stats = {"files": 0, "created": 0, "retrieved": 0, "listed": 0, "cancelled": 0,
                       "lines_answered": 0}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def routes(self, app: web.Application) -> None:
        for prefix in ("/v1", ""):
            app.router.add_post(f"{prefix}/files", self._upload)
            app.router.add_get(f"{prefix}/files/{{id}}", self._file)
            app.router.add_get(f"{prefix}/files/{{id}}/content", self._content)
            app.router.add_post(f"{prefix}/batches", self._create)
            app.router.add_get(f"{prefix}/batches", self._list)
            app.router.add_get(f"{prefix}/batches/{{id}}", self._retrieve)
            app.router.add_post(f"{prefix}/batches/{{id}}/cancel", self._cancel)

    # -- handlers ------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if not hasattr(upload, "file") or purpose != "batch":
            return _error(400, "a batch file needs a 'file' part and purpose 'batch'")
        data = upload.file.read()  # type: ignore[union-attr]
        with self._lock:
            file = {"id": f"file-{next(self._ids)}", "object": "file", "bytes": len(data),
                    "created_at": int(time.time()), "filename": upload.filename,  # type: ignore[union-attr]
                    "purpose": "batch", "status": "processed"}
            self._files[file["id"]] = (file, data)
            self._stats["files"] += 1
        return _json(200, file)

    async def _file(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        found = self._files.get(request.match_info["id"])
        return _json(200, found[0]) if found else _error(404, "No such File object", code=None)

    async def _content(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        found = self._files.get(request.match_info["id"])
        if not found:
            return _error(404, "No such File object", code=None)
        return web.Response(body=found[1], content_type="application/octet-stream")

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "the request body must be a JSON object")
        found = self._files.get(str(body.get("input_file_id")))
        if not found:
            return _error(400, f"input_file_id {body.get('input_file_id')!r}: no such file")
        if body.get("endpoint") != "/v1/chat/completions":
            return _error(400, "endpoint: the stub batches /v1/chat/completions only")
        lines, errors = self._read_lines(found[1], body["endpoint"])
        with self._lock:
            batch = _Batch(id=f"batch_{next(self._ids)}", input_file_id=found[0]["id"],
                           endpoint=body["endpoint"],
                           completion_window=str(body.get("completion_window", "24h")),
                           metadata=body.get("metadata"), created_at=time.time(), lines=lines,
                           errors=errors)
            self._batches[batch.id] = batch
            self._stats["created"] += 1
        return _json(200, self._view(batch))

    async def _retrieve(self, request: web.Request) -> web.Response:
        return self._on_batch(request, "retrieved", self._advance)

    async def _cancel(self, request: web.Request) -> web.Response:
        def cancel(batch: _Batch) -> None:
            self._advance(batch)
            if batch.status not in TERMINAL:  # what was answered so far is kept
                self._finish(batch, "cancelled", batch.answered)

        return self._on_batch(request, "cancelled", cancel)

    def _on_batch(self, request: web.Request, counter: str, act: Any) -> web.Response:
        """Apply ``act`` to the batch the path names and answer its new state."""
        if (refused := self._refuse(request)) is not None:
            return refused
        batch = self._batches.get(request.match_info["id"])
        if batch is None:
            return _error(404, "No such Batch object", code=None)
        with self._lock:
            self._stats[counter] += 1
            act(batch)
            return _json(200, self._view(batch))

    async def _list(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        with self._lock:
            self._stats["listed"] += 1
            newest = sorted(self._batches.values(), key=lambda b: -int(b.id.split("_")[1]))
            after = request.query.get("after")
            if after:
                ids = [b.id for b in newest]
                newest = newest[ids.index(after) + 1:] if after in ids else []
            limit = int(request.query.get("limit", 20))
            page = newest[:limit]
            for batch in page:
                self._advance(batch)
            return _json(200, {"object": "list", "data": [self._view(b) for b in page],
                               "first_id": page[0].id if page else None,
                               "last_id": page[-1].id if page else None,
                               "has_more": len(newest) > limit})

    # -- the batch's life ----------------------------------------------------------------------

    def _refuse(self, request: web.Request) -> web.Response | None:
        return key_refused(self.app.api_key, request)

    def _read_lines(self, data: bytes, endpoint: str
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lines, errors, seen = [], [], set()
        for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                custom_id = line["custom_id"]
                if custom_id in seen:
                    raise ValueError(f"custom_id {custom_id!r} is repeated")
                if line.get("method") != "POST" or line.get("url") != endpoint:
                    raise ValueError(f"method and url must be POST {endpoint}")
                if self.app.require_model and line["body"].get("model") != self.app.model_id:
                    raise ValueError(f"model {line['body'].get('model')!r} does not exist")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                errors.append({"code": "invalid_request", "message": str(exc), "line": number})
                continue
            seen.add(custom_id)
            lines.append(line)
        if not lines and not errors:
            errors.append({"code": "empty_file", "message": "the input file has no requests",
                           "line": None})
        return lines, errors

    def _advance(self, batch: _Batch) -> None:
        """Move ``batch`` on by the time passed since it was created (called under the lock)."""
        if batch.status in TERMINAL:
            return
        if batch.errors:
            batch.status = "failed"
            batch.stamps["failed_at"] = time.time()
            return
        share = min(1.0, (time.time() - batch.created_at) / max(self.duration_s, 1e-9))
        if share < 0.2:
            return
        limit = len(batch.lines) if self.answer_limit is None else min(self.answer_limit,
                                                                         len(batch.lines))
        batch.status = "in_progress"
        batch.stamps.setdefault("in_progress_at", time.time())
        batch.answered = int(limit * min(1.0, (share - 0.2) / 0.6))
        if share >= 0.8:
            batch.status = "finalizing"
            batch.stamps.setdefault("finalizing_at", time.time())
        if share >= 1.0:
            self._finish(batch, "completed" if limit == len(batch.lines) else "expired", limit)

    def _finish(self, batch: _Batch, status: str, answered: int) -> None:
        """Answer the first ``answered`` lines; the rest go to the error file (expired or
        cancelled)."""
        out, failed = [], []
        for n, line in enumerate(batch.lines):
            request_id = f"req_{batch.id}_{n}"
            if n >= answered:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                failed.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"],
                               "response": None, "error": {
                                   "code": code, "message": f"This request could not be executed "
                                   f"before the batch was {status}."}})
                continue
            status_code, body = self._answer(line["body"])
            row = {"id": f"batch_req_{n}", "custom_id": line["custom_id"],
                   "response": {"status_code": status_code, "request_id": request_id,
                                "body": body}, "error": None}
            (out if status_code == 200 else failed).append(row)
        self._stats["lines_answered"] += answered
        batch.output_file_id = self._store(out, batch.id, "output") if out else None
        batch.error_file_id = self._store(failed, batch.id, "error") if failed else None
        batch.answered, batch.failed = len(out), len(failed)
        batch.status = status
        batch.stamps[f"{status}_at"] = time.time()

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """What the chat endpoint would answer ``body`` (faults by marker word included)."""
        try:
            self.app.model.check(body)
        except RequestError as exc:
            return exc.status, exc.body
        messages = body.get("messages") or []
        key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        matched = self.app.faults.match(item_text(last_user_text(messages)) or "", key)
        if matched is not None:
            status = matched[1].status or 500
            return status, {"error": {"message": f"injected {matched[1].kind}",
                                      "type": "server_error" if status >= 500 else
                                      "invalid_request_error"}}
        return 200, self.app.model.complete(body).body

    def _store(self, rows: list[dict[str, Any]], batch_id: str, kind: str) -> str:
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        file = {"id": f"file-{next(self._ids)}", "object": "file", "bytes": len(data),
                "created_at": int(time.time()), "filename": f"{batch_id}_{kind}.jsonl",
                "purpose": "batch_output", "status": "processed"}
        self._files[file["id"]] = (file, data)
        return file["id"]

    def _view(self, batch: _Batch) -> dict[str, Any]:
        stamps = {f"{s}_at": int(batch.stamps[f"{s}_at"]) if f"{s}_at" in batch.stamps else None
                  for s in ("in_progress", "finalizing", "completed", "failed", "expired",
                            "cancelled")}
        return {
            "id": batch.id, "object": "batch", "endpoint": batch.endpoint,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id, "completion_window": batch.completion_window,
            "status": batch.status, "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id, "created_at": int(batch.created_at),
            "expires_at": int(batch.created_at) + 86400, **stamps,
            "request_counts": {"total": len(batch.lines), "completed": batch.answered,
                               "failed": batch.failed},
            "metadata": batch.metadata,
        }
