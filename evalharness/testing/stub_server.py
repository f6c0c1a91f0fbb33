"""A small, real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

In-process (a background thread running an aiohttp server on its own event loop)::

    with StubServer(latency_s=0.2, fault_times=2) as server:
        openai.OpenAI(base_url=server.url, api_key="x").chat.completions.create(...)
        server.stats()["completions"]

As a separate process (benchmarks, tests that SIGKILL a run)::

    python -m evalharness.testing.stub_server --port 8011 --latency 0.2
    # prints "listening on http://127.0.0.1:8011/v1" once ready

or :class:`StubProcess`, which starts that command and waits for the line.

Endpoints: ``POST /v1/chat/completions`` (non-streaming), ``GET /v1/models``, ``GET /health``,
``GET /stats``, ``POST /reset`` (forgets requests, fault attempts, cached prefixes, rate debt).

``/stats`` (and :meth:`StubServer.stats`) is a JSON object:

- ``completions``: completion requests received, every attempt counted;
- ``ok``: those answered 200 with a well-formed completion (proxy: upstream 200s);
- ``faults``: ``{kind: count}`` for each configured kind (``"429"``, ``"500"``, ``"hang"``,
  ``"badjson"``...) plus ``"rate_limit"`` (the global bucket);
- ``fault_markers``: ``{marker: count}``;
- ``by_status``: ``{"200": n, "429": n, ...}``; ``"aborted"`` counts requests whose client went
  away or that were cut by stop();
- ``models``: ``/v1/models`` requests;
- ``texts`` / ``items``: the last user message / the text inside its ``<item>`` tags, of every
  completion request in arrival order (repeats show as repeats);
- ``upstream``: the proxy target or null;
- ``requests`` (only with ``?requests=1``): the request log, one object per request with
  ``t`` (epoch s), ``path``, ``item``, ``text``, ``marker``, ``fault``, ``status`` (null if
  aborted), ``answer`` (``label``/``refusal``/``offlabel``/``badjson``/``upstream``), ``latency_s``.

What a completion request goes through, in order: the key (``api_key``: anything else gets 401,
quoting the key sent, as providers do) and the model (``require_model``: another name gets 404);
the body is checked (bad JSON, ``stream: true``,
an unsupported ``response_format`` → 400, no fault attempt counted); the global rate limit
(``rate_limit_rps``, 429 + ``Retry-After``); the per-item faults (:mod:`.faults`: marker words in
the item text); ``latency_s``; then the answer from :class:`.stub_model.StubModel`, or in proxy
mode (``upstream``) the upstream server's reply, passed through unchanged. Status faults and
rate-limit 429s answer at once, without ``latency_s``.

Everything is bounded: hangs and latency sleeps end when the server stops, and :meth:`StubServer.stop`
returns within about a second even with requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from .faults import Fault, FaultTable, TokenBucket, default_faults, parse_fault
from .stub_model import DEFAULT_VIOLATING_WORDS, RequestError, StubModel, item_text, last_user_text

_SHUTDOWN_TIMEOUT_S = 0.5  # aiohttp cancels handlers still running after this, on stop
_BROKEN_JSON = (b'{"id": "chatcmpl-stub-broken", "object": "chat.completion", "choices": '
                b'[{"index": 0, "message": {"role": "assist')


class _Stub:
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
        faults: Mapping[str, Fault | str] | None,
        hang_s: float,
        retry_after_s: int,
        rate_limit_rps: float | None,
        rate_limit_burst: float | None,
        upstream: str | None,
        upstream_timeout_s: float,
        api_key: str | None = None,
        require_model: bool = False,
    ) -> None:
        if latency_s < 0 or hang_s < 0:
            raise ValueError("latency_s and hang_s must be >= 0")
        table = default_faults(fault_times)
        for marker, fault in (faults or {}).items():
            table[marker] = fault if isinstance(fault, Fault) else parse_fault(f"{marker}={fault}")[1]
        self.model = StubModel(violating_words=violating_words, refusal_word=refusal_word,
                               offlabel_word=offlabel_word, confidence=confidence,
                               json_schema_supported=json_schema_supported, model=model)
        self.faults = FaultTable(table)
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
        self._reset_counters()

    # -- bookkeeping (thread-safe) ------------------------------------------------------------

    def _reset_counters(self) -> None:
        with self._lock:
            self._log: list[dict[str, Any]] = []
            self._texts: list[str] = []
            self._items: list[str] = []
            self._completions = 0
            self._ok = 0
            self._models = 0
            self._by_status: dict[str, int] = {}
            kinds = {f.kind for f in self.faults.faults.values()}
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
                "upstream": self.upstream,
            }
            if requests:
                out["requests"] = [dict(entry) for entry in self._log]
        return out

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def _arrive(self, path: str, text: str | None = None, item: str | None = None) -> dict[str, Any]:
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
            if status == 200 and entry["fault"] != "badjson" and not entry["path"].endswith("/models"):
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
            await asyncio.wait_for(self._stopping.wait(), seconds)
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
        entry = self._arrive(request.path, text, item_text(text))
        try:
            response, answer = await self._complete(entry, body, raw, request)
        except asyncio.CancelledError:  # the client went away, or the server is stopping
            self._finish(entry, None)
            raise
        self._finish(entry, response.status, answer)
        return response

    async def _complete(self, entry: dict[str, Any], body: Any, raw: bytes,
                        request: web.Request) -> tuple[web.Response, str | None]:
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object"), None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and given != self.api_key:
            # like the real thing, the message quotes the key that was sent
            return _error(401, f"Incorrect API key provided: {given}. You can find your API key "
                          "in your account settings.", code="invalid_api_key"), None
        if self.require_model and body.get("model") != self.model_id:
            return _error(404, f"The model `{body.get('model')}` does not exist or you do not "
                          "have access to it.", code="model_not_found"), None
        try:
            if self.upstream:
                if body.get("stream"):
                    raise RequestError("streaming is not supported by the stub server",
                                       param="stream")
            else:
                self.model.check(body)
        except RequestError as exc:
            return _json(exc.status, exc.body), None

        if self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                self._fault(entry, "rate_limit")
                return _rate_limited(max(1, math.ceil(wait)), "Rate limit reached for requests "
                                     f"({self.bucket.rate:g}/s); try again later"), None

        key = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
        matched = self.faults.match(entry["item"] or "", key)
        if matched is not None:
            marker, fault = matched
            self._fault(entry, fault.kind, marker)
            if fault.status == 429:
                return _rate_limited(self.retry_after_s, f"injected 429 ({marker})"), None
            if fault.status is not None:
                return _error(fault.status, f"injected {fault.status} ({marker})",
                              kind="server_error" if fault.status >= 500 else "invalid_request_error"), None
            if fault.kind == "hang" and not await self._sleep(self.hang_s):
                return _error(503, "the stub server is stopping", kind="server_error"), None
            if fault.kind == "badjson":
                await self._sleep(self.latency_s)
                return web.Response(status=200, body=_BROKEN_JSON,
                                    content_type="application/json"), "badjson"

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


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json", headers=headers)


def _error(status: int, message: str, *, kind: str = "invalid_request_error",
           headers: Mapping[str, str] | None = None, code: str | None = None) -> web.Response:
    return _json(status, {"error": {"message": message, "type": kind, "param": None,
                                    "code": code}}, headers)


def _rate_limited(retry_after: int, message: str) -> web.Response:
    headers = {"Retry-After": str(retry_after), "x-ratelimit-remaining-requests": "0"}
    return _error(429, message, kind="requests", code="rate_limit_exceeded", headers=headers)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


class StubServer:
    """The stub server in a background thread of this process.

    Parameters
    ----------
    port
        TCP port on 127.0.0.1; 0 picks a free one (see :attr:`port` / :attr:`url` after start).
    latency_s
        Seconds every answered completion waits before replying (status faults do not wait).
    violating_words
        Words (case-insensitive, matched at a word start) that make the item violating.
    json_schema_supported
        When False, ``response_format: {"type": "json_schema"}`` gets a 400; ``json_object``
        always works. (llama-cpp-python's server rejects ``json_schema`` too, but with a 500
        carrying a pydantic ``literal_error``.)
    refusal_word, offlabel_word
        Case-sensitive trigger words in the item text: an OpenAI-style refusal, or an off-label
        answer (``"I think it might be hateful"``). None disables.
    confidence
        The chosen label's probability, in JSON replies and in logprobs.
    model
        The model id listed by ``/v1/models`` (replies echo the requested model).
    fault_times
        N for the built-in markers: FAULT429, FAULT500, FAULTHANG, FAULTJSON fail the first N
        attempts of each conversation (0 turns them off); FAULTALWAYS500 always fails.
    faults
        Extra or overriding markers: ``{"FAULT503": Fault("503", 2)}`` or ``{"FAULT503": "503:2"}``.
    hang_s
        How long FAULTHANG requests sleep (ended early by stop()).
    retry_after_s
        ``Retry-After`` of injected 429s.
    rate_limit_rps, rate_limit_burst
        A global token bucket: requests over it get 429 with ``Retry-After``. None = no limit.
    upstream
        Proxy mode: forward completions and models to this OpenAI-compatible base URL (e.g. a
        ``python -m llama_cpp.server``), after rate limit, faults and latency; count requests.
    upstream_timeout_s
        Total timeout of one forwarded request.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        latency_s: float = 0.0,
        violating_words: Sequence[str] = DEFAULT_VIOLATING_WORDS,
        json_schema_supported: bool = True,
        refusal_word: str | None = "REFUSEME",
        offlabel_word: str | None = "RAMBLE",
        confidence: float = 0.9,
        model: str = "stub",
        fault_times: int = 1,
        faults: Mapping[str, Fault | str] | None = None,
        hang_s: float = 30.0,
        retry_after_s: int = 1,
        rate_limit_rps: float | None = None,
        rate_limit_burst: float | None = None,
        upstream: str | None = None,
        upstream_timeout_s: float = 300.0,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        require_model: bool = False,
    ) -> None:
        self._stub = _Stub(
            latency_s=latency_s, violating_words=violating_words,
            json_schema_supported=json_schema_supported, refusal_word=refusal_word,
            offlabel_word=offlabel_word, confidence=confidence, model=model,
            fault_times=fault_times, faults=faults, hang_s=hang_s, retry_after_s=retry_after_s,
            rate_limit_rps=rate_limit_rps, rate_limit_burst=rate_limit_burst, upstream=upstream,
            upstream_timeout_s=upstream_timeout_s, api_key=api_key, require_model=require_model,
        )
        self.host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (for /health, /stats, /reset)."""
        return f"http://{self.host}:{self._port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.base_url}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every completion and models request so far: t, path, item, text, marker, fault,
        status (None if the client went away or the server stopped), answer, latency_s."""
        return self._stub.request_log()

    def stats(self, *, requests: bool = False) -> dict[str, Any]:
        """What ``GET /stats`` returns (format in the module docstring)."""
        return self._stub.stats(requests=requests)

    def reset(self) -> None:
        """What ``POST /reset`` does: forget requests, fault attempts and cached prefixes."""
        self._stub.reset()

    def start(self) -> StubServer:
        if self._thread is not None:
            raise RuntimeError("the stub server is already running")
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._stub.serve(sock, ready))
            except BaseException as exc:  # surfaced by start()/stop()
                self._error = exc
                ready.set()
            finally:
                try:
                    self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                finally:
                    self._loop.close()
                    sock.close()

        self._thread = threading.Thread(target=run, name=f"stub-server-{self._port}", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the stub server did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; in-flight hangs and sleeps end at once. Returns within ~1 s."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stub.request_stop)
            except RuntimeError:  # the loop closed in between
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the stub server thread did not stop within {timeout} s")
        self._thread = self._loop = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Runs this module as __main__ without executing evalharness/__init__.py: the child then starts
# in ~0.3 s instead of ~2 s, and a broken or half-edited module elsewhere in the package cannot
# stop the test server from starting. evalharness.testing imports nothing from the package.
_BOOTSTRAP = (
    "import runpy, sys, types; pkg = types.ModuleType('evalharness'); pkg.__path__ = [{root!r}]; "
    "sys.modules['evalharness'] = pkg; "
    "runpy.run_module('evalharness.testing.stub_server', run_name='__main__', alter_sys=True)"
)


def command(python: str = sys.executable) -> list[str]:
    """The argv that starts the stub server CLI (add flags after it), without importing the
    rest of the evalharness package; equivalent to ``python -m evalharness.testing.stub_server``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [python, "-c", _BOOTSTRAP.format(root=root)]


class StubProcess:
    """The stub server as a child process (see :func:`command`).

    ``args`` are CLI flags (see ``--help``), e.g. ``StubProcess("--latency", "0.2")``. The port is
    picked by the child when ``port=0``; :attr:`url` is known once :meth:`start` returns.
    """

    def __init__(self, *args: str, port: int = 0, python: str = sys.executable,
                 env: Mapping[str, str] | None = None, ready_timeout_s: float = 30.0) -> None:
        self.args = list(args)
        self.port = port
        self.python = python
        self.env = dict(env) if env is not None else None
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._stderr: Any = None

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/v1")

    def start(self) -> StubProcess:
        self._stderr = tempfile.TemporaryFile()
        cmd = [*command(self.python), "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env=self.env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.ready_timeout_s
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
        text = line.decode(errors="replace").strip()
        if not text.startswith("listening on "):
            self.kill()
            self._stderr.seek(0)
            err = self._stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"stub server did not start: {text!r}\n{err}")
        self.url = text.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        return self

    def _get(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(self.base_url + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self, *, requests: bool = False) -> dict[str, Any]:
        return self._get("/stats?requests=1" if requests else "/stats")

    def reset(self) -> None:
        self._get("/reset", method="POST")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._close()

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> StubProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m evalharness.testing.stub_server",
        description="A deterministic OpenAI-compatible server on loopback, with fault injection. "
                    "Prints 'listening on http://HOST:PORT/v1' when ready.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--latency", type=float, default=0.0, metavar="S",
                   help="seconds every answered completion waits (default 0)")
    p.add_argument("--violating-words", default=",".join(DEFAULT_VIOLATING_WORDS),
                   metavar="W1,W2", help="comma-separated words that make an item violating")
    p.add_argument("--no-json-schema", action="store_true",
                   help="reject response_format json_schema with 400 (llama-cpp-python's "
                        "server rejects it too, with a 500)")
    p.add_argument("--refusal-word", default="REFUSEME", help="'' disables")
    p.add_argument("--offlabel-word", default="RAMBLE", help="'' disables")
    p.add_argument("--confidence", type=float, default=0.9)
    p.add_argument("--model", default="stub", help="model id listed by /v1/models")
    p.add_argument("--fault-times", type=int, default=1, metavar="N",
                   help="N for the built-in markers FAULT429/500/HANG/JSON (default 1)")
    p.add_argument("--fault", action="append", default=[], metavar="MARKER=KIND[:TIMES]",
                   help="add or override a marker; KIND is hang, badjson or a 4xx/5xx status, "
                        "TIMES an integer or 'always' (repeatable)")
    p.add_argument("--hang", type=float, default=30.0, metavar="S",
                   help="how long FAULTHANG requests sleep (default 30)")
    p.add_argument("--retry-after", type=int, default=1, metavar="S",
                   help="Retry-After of injected 429s (default 1)")
    p.add_argument("--rate-limit-rps", type=float, default=None)
    p.add_argument("--rate-limit-burst", type=float, default=None)
    p.add_argument("--upstream", default=None, metavar="URL",
                   help="proxy mode: forward to this OpenAI-compatible base URL")
    p.add_argument("--upstream-timeout", type=float, default=300.0, metavar="S")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        faults = dict(parse_fault(spec) for spec in args.fault)
        stub = _Stub(
            latency_s=args.latency,
            violating_words=[w.strip() for w in args.violating_words.split(",") if w.strip()],
            json_schema_supported=not args.no_json_schema,
            refusal_word=args.refusal_word or None, offlabel_word=args.offlabel_word or None,
            confidence=args.confidence, model=args.model, fault_times=args.fault_times,
            faults=faults, hang_s=args.hang, retry_after_s=args.retry_after,
            rate_limit_rps=args.rate_limit_rps, rate_limit_burst=args.rate_limit_burst,
            upstream=args.upstream, upstream_timeout_s=args.upstream_timeout,
        )
        sock = _bind(args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"stub_server: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stub.request_stop)
        await stub.serve(sock, on_ready=lambda: print(
            f"listening on http://{args.host}:{port}/v1", flush=True))

    try:
        asyncio.run(run())
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
