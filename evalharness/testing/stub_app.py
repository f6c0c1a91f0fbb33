"""The stub server's state and HTTP handlers (aiohttp), shared by the in-thread server and the
process.

Endpoints: ``POST /v1/chat/completions`` (non-streaming), ``GET /v1/models``, ``GET /health``,
``GET /stats``, ``POST /reset`` (forgets requests, fault attempts, cached prefixes, rate debt),
and the provider Batch API's files and batches (:mod:`.stub_batches`).

``/stats`` (and :meth:`StubServer.stats`) is a JSON object:

- ``completions``: completion requests received, every attempt counted;
- ``ok``: those answered 200 with a well-formed completion (proxy: upstream 200s);
- ``faults``: ``{kind: count}`` of injected attempts, for each configured kind (``"429"``,
  ``"500"``, ``"hang"``, ``"badjson"``...), each kind random faults drew, plus ``"rate_limit"``
  (the global bucket);
- ``fault_markers``: ``{marker: count}``;
- ``by_status``: ``{"200": n, "429": n, ...}``; ``"aborted"`` counts requests whose client went
  away or that were cut by stop();
- ``models``: ``/v1/models`` requests;
- ``texts`` / ``items``: the last user message / the text inside its ``<item>`` tags, of every
  completion request in arrival order (repeats show as repeats);
- ``images``: per completion request, in the same order, the sha256 (hex) of each image of its
  last user message (``[]`` for none);
- ``upstream``: the proxy target or null;
- ``batches``: the Batch API's counts (:meth:`.stub_batches.BatchApi.stats`);
- ``random_faults``: null, or what the seeded random mode (``fault_rate``) planned and injected:
  its settings, ``planned`` (one entry per faulted conversation: ``item``, ``kind``, ``times`` —
  null = always —, ``attempts``, ``injected``) and ``by_kind`` (see
  :meth:`.faults.FaultTable.random_stats`);
- ``requests`` (only with ``?requests=1``): the request log, one object per request with
  ``t`` (epoch s), ``path``, ``item``, ``text``, ``marker``, ``fault``, ``status`` (null if
  aborted or dropped), ``answer`` (``label``/``refusal``/``offlabel``/``upstream``, or the fault
  kind of a broken body or dropped connection), ``latency_s``.

What a completion request goes through, in order: the key (``api_key``: anything else gets 401,
quoting the key sent, as providers do) and the model (``require_model``: another name gets 404);
the body is checked (bad JSON, ``stream: true``,
an unsupported ``response_format`` → 400, no fault attempt counted); the global rate limit
(``rate_limit_rps``, 429 + ``Retry-After``); the per-item faults (:mod:`.faults`: marker words in
the item text, then the seeded random faults); ``latency_s``; then the answer from :class:`.stub_model.StubModel`, or in proxy
mode (``upstream``) the upstream server's reply, passed through unchanged. Status faults,
rate-limit 429s and resets answer at once, without ``latency_s``. With ``echo_headers``, every
error answer quotes the request's headers (Authorization included), as some proxies do.

Everything is bounded: hangs and latency sleeps end when the server stops, and :meth:`StubServer.stop`
returns within about a second even with requests in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from .fault_responses import BODY_KINDS, Dropped, broken_body, drop, key_refused, rate_limited
from .fault_responses import error as _error
from .fault_responses import json_response as _json
from .faults import Fault, FaultTable, RandomFaults, TokenBucket, default_faults, parse_fault
from .stub_batches import BatchApi
from .stub_model import RequestError, StubModel, image_digests, item_text, last_user_text

_SHUTDOWN_TIMEOUT_S = 0.5  # aiohttp cancels handlers still running after this, on stop


class StubApp:
    """Server state and aiohttp handlers; lives on one event loop, read from any thread."""

    def __init__(
        self,
        *,
        latency_s: float,
        violating_words: Sequence[str],
        json_schema_supported: bool,
        refusal_word: str | None,
        offlabel_word: str | None,
        confidence: float,
        model: str,
        fault_times: int,
        vision: bool = True,
        faults: Mapping[str, Fault | str] | None,
        hang_s: float,
        retry_after_s: float,
        rate_limit_rps: float | None,
        rate_limit_burst: float | None,
        upstream: str | None,
        upstream_timeout_s: float,
        api_key: str | None = None,
        require_model: bool = False,
        random_faults: RandomFaults | None = None,
        echo_headers: bool = False,
        batch_duration_s: float = 0.3,
        batch_answer_limit: int | None = None,
    ) -> None:
        if latency_s < 0 or hang_s < 0:
            raise ValueError("latency_s and hang_s must be >= 0")
        table = default_faults(fault_times)
        for marker, fault in (faults or {}).items():
            table[marker] = fault if isinstance(fault, Fault) else parse_fault(f"{marker}={fault}")[1]
        self.model = StubModel(violating_words=violating_words, refusal_word=refusal_word,
                               offlabel_word=offlabel_word, confidence=confidence,
                               json_schema_supported=json_schema_supported, model=model,
                               vision=vision)
        self.faults = FaultTable(table, random_faults)
        self.echo_headers = echo_headers
        self.bucket = TokenBucket(rate_limit_rps, rate_limit_burst) if rate_limit_rps else None
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.retry_after_s = retry_after_s
        self.upstream = _v1_base(upstream) if upstream else None
        self.upstream_timeout_s = upstream_timeout_s
        self.api_key = api_key
        self.require_model = require_model
        self.model_id = model
        self._session: ClientSession | None = None
        self._stopping: asyncio.Event | None = None
        self._lock = threading.Lock()
        self.batches = BatchApi(self, duration_s=batch_duration_s, answer_limit=batch_answer_limit)
        self._reset_counters()

    # -- bookkeeping (thread-safe) ------------------------------------------------------------

    def _reset_counters(self) -> None:
        with self._lock:
            self._log: list[dict[str, Any]] = []
            self._texts: list[str] = []
            self._items: list[str] = []
            self._images: list[list[str]] = []
            self._completions = 0
            self._ok = 0
            self._models = 0
            self._by_status: dict[str, int] = {}
            kinds = {f.kind for f in self.faults.faults.values()}
            kinds |= set(self.faults.random.kinds) if self.faults.random else set()
            self._faults: dict[str, int] = {kind: 0 for kind in sorted(kinds)} | {"rate_limit": 0}
            self._markers: dict[str, int] = {marker: 0 for marker in self.faults.faults}

    def reset(self) -> None:
        """Forget every request, fault attempt, cached prompt prefix and rate-limit debt."""
        self._reset_counters()
        self.faults.reset()
        self.model.reset()
        if self.bucket:
            self.bucket.reset()

    def stats(self, *, requests: bool = False) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "completions": self._completions,
                "ok": self._ok,
                "faults": dict(self._faults),
                "fault_markers": dict(self._markers),
                "by_status": dict(self._by_status),
                "models": self._models,
                "texts": list(self._texts),
                "items": list(self._items),
                "images": [list(found) for found in self._images],
                "upstream": self.upstream,
            }
            out["batches"] = self.batches.stats()
            if requests:
                out["requests"] = [dict(entry) for entry in self._log]
        out["random_faults"] = self.faults.random_stats()
        return out

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def _arrive(self, path: str, text: str | None = None, item: str | None = None,
                images: Sequence[str] = ()) -> dict[str, Any]:
        entry = {"t": time.time(), "path": path, "item": item, "text": text, "marker": None,
                 "fault": None, "status": None, "answer": None, "latency_s": None}
        with self._lock:
            self._log.append(entry)
            if path.endswith("/models"):
                self._models += 1
            else:
                self._completions += 1
                self._texts.append(text or "")
                self._items.append(item or "")
                self._images.append(list(images))
        return entry

    def _fault(self, entry: dict[str, Any], kind: str, marker: str | None = None) -> None:
        with self._lock:
            entry["fault"], entry["marker"] = kind, marker
            self._faults[kind] = self._faults.get(kind, 0) + 1
            if marker:
                self._markers[marker] = self._markers.get(marker, 0) + 1

    def _finish(self, entry: dict[str, Any], status: int | None, answer: str | None = None) -> None:
        with self._lock:
            entry["status"], entry["answer"] = status, answer
            entry["latency_s"] = round(time.time() - entry["t"], 6)
            key = str(status) if status is not None else "aborted"
            self._by_status[key] = self._by_status.get(key, 0) + 1
            if (status == 200 and entry["fault"] not in BODY_KINDS
                    and not entry["path"].endswith("/models")):
                self._ok += 1

    # -- lifecycle (on the loop) -----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions_handler)
        app.router.add_post("/chat/completions", self._completions_handler)
        app.router.add_get("/v1/models", self._models_handler)
        app.router.add_get("/models", self._models_handler)
        app.router.add_get("/health", self._health)
        app.router.add_get("/stats", self._stats_handler)
        app.router.add_post("/reset", self._reset_handler)
        self.batches.routes(app)
        return app

    async def serve(self, sock: socket.socket, ready: threading.Event | None = None,
                    on_ready: Any = None) -> None:
        """Serve on ``sock`` until :meth:`request_stop` is called (from the loop's thread)."""
        self._stopping = asyncio.Event()
        if self.upstream:
            self._session = ClientSession(connector=TCPConnector(limit=0),
                                          timeout=ClientTimeout(total=self.upstream_timeout_s))
        runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True,
                               shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.SockSite(runner, sock, backlog=1024)
            await site.start()
            if on_ready:
                on_ready()
            if ready:
                ready.set()
            await self._stopping.wait()
        finally:
            self._stopping.set()
            await runner.cleanup()
            if self._session:
                await self._session.close()

    def request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if the full time passed."""
        if seconds <= 0:
            return True
        assert self._stopping is not None
        if self._stopping.is_set():
            return False
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

    # -- handlers ----------------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats(requests=request.query.get("requests") in ("1", "true")))

    async def _reset_handler(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"status": "ok"})

    async def _models_handler(self, request: web.Request) -> web.Response:
        entry = self._arrive(request.path)
        try:
            if self.upstream:
                response = await self._forward("GET", "/models", None, request)
            else:
                response = _json(200, self.model.models())
        except asyncio.CancelledError:
            self._finish(entry, None)
            raise
        self._finish(entry, response.status)
        return response

    async def _completions_handler(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        messages = body.get("messages") if isinstance(body, dict) else None
        text = last_user_text(messages) if isinstance(messages, list) else ""
        try:
            images = image_digests(messages) if isinstance(messages, list) else []
        except (RequestError, KeyError, TypeError, AttributeError):
            images = []  # a bad image part: check() answers it with a 400
        entry = self._arrive(request.path, text, item_text(text), images)
        try:
            response, answer = await self._complete(entry, body, raw, request)
        except Dropped as dropped:  # the connection was closed on purpose: no response
            self._finish(entry, None, dropped.kind)
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:  # the client went away, or the server is stopping
            self._finish(entry, None)
            raise
        self._finish(entry, response.status, answer)
        return response

    async def _complete(self, entry: dict[str, Any], body: Any, raw: bytes,
                        request: web.Request) -> tuple[web.Response, str | None]:
        echo = request.headers if self.echo_headers else None
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object", echo=echo), None
        if (refused := key_refused(self.api_key, request, echo)) is not None:
            return refused, None
        if self.require_model and body.get("model") != self.model_id:
            return _error(404, f"The model `{body.get('model')}` does not exist or you do not "
                          "have access to it.", code="model_not_found", echo=echo), None
        try:
            if self.upstream:
                if body.get("stream"):
                    raise RequestError("streaming is not supported by the stub server",
                                       param="stream")
            else:
                self.model.check(body)
        except RequestError as exc:
            return _error(exc.status, str(exc), param=exc.body["error"]["param"],
                          code=exc.body["error"]["code"], echo=echo), None

        if self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                self._fault(entry, "rate_limit")
                return rate_limited(max(1, math.ceil(wait)), "Rate limit reached for requests "
                                    f"({self.bucket.rate:g}/s); try again later", echo), None

        key = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
        matched = self.faults.match(entry["item"] or "", key)
        if matched is not None:
            marker, fault = matched
            self._fault(entry, fault.kind, marker)
            what = f"injected {fault.kind} ({marker or 'random'})"
            if fault.kind in ("429", "429bare"):
                retry_after = self.retry_after_s if fault.kind == "429" else None
                return rate_limited(retry_after, what, echo), None
            if fault.status is not None:
                return _error(fault.status, what, echo=echo,
                              kind="server_error" if fault.status >= 500 else "invalid_request_error"), None
            if fault.kind == "reset":
                drop(request)
            if fault.kind == "hang" and not await self._sleep(self.hang_s):
                return _error(503, "the stub server is stopping", kind="server_error"), None
            if fault.kind in BODY_KINDS:
                await self._sleep(self.latency_s)
                return await broken_body(fault.kind, request, self.model.complete(body).body), fault.kind

        if not await self._sleep(self.latency_s):
            return _error(503, "the stub server is stopping", kind="server_error"), None
        if self.upstream:
            return await self._forward("POST", "/chat/completions", raw, request), "upstream"
        reply = self.model.complete(body)
        headers = {}
        if self.bucket is not None:
            headers["x-ratelimit-remaining-requests"] = str(self.bucket.remaining)
        return _json(200, reply.body, headers), reply.answer

    async def _forward(self, method: str, path: str, raw: bytes | None,
                       request: web.Request) -> web.Response:
        assert self._session is not None and self.upstream is not None
        headers = {"Content-Type": "application/json"}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        try:
            async with self._session.request(method, self.upstream + path, data=raw,
                                             headers=headers) as upstream:
                payload = await upstream.read()
                keep = {k: v for k, v in upstream.headers.items()
                        if k.lower() in ("retry-after", "retry-after-ms")
                        or k.lower().startswith("x-ratelimit")}
                return web.Response(status=upstream.status, body=payload, headers=keep,
                                    content_type=upstream.content_type or "application/json")
        except (OSError, asyncio.TimeoutError) as exc:
            return _error(502, f"upstream {self.upstream}: {type(exc).__name__}: {exc}",
                          kind="server_error")


def _v1_base(url: str) -> str:
    """An OpenAI base URL: ``http://host:port/v1`` (``/v1`` added when the URL has no path)."""
    url = url.rstrip("/")
    path = url.partition("://")[2].partition("/")[2]
    return url if path else url + "/v1"
