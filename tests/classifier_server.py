"""A real REST moderation classifier on 127.0.0.1 for the ``http`` kind's tests.

It runs on the stub server's machinery (:mod:`evalharness.testing`: the background thread, the
request counters, the marker-word faults, bounded hangs) with one endpoint of its own,
``POST /classify`` (JSON body ``{"input": ...}``) or ``GET /classify?input=...``, which answers
in the shape of OpenAI's moderation API::

    {"results": [{"flagged": true, "category": "hate", "score": 0.9,
                  "category_scores": {"hate": 0.9, "harassment": 0.05, "safe": 0.05}}]}

The category is the first of ``words`` (word -> category) found in the lower-cased text, else
``safe``. Marker words in the text inject faults (``faults={"BUSY": "429:1", "BAD": "badjson:always",
"SLOW": "hang:1"}``); ``EMPTYRESULT`` answers ``{"results": []}``. With ``api_key`` set, a request
without ``Authorization: Bearer <api_key>`` gets a 401 quoting the key it sent, as providers do.
Answers (not faults) wait ``latency_s``. ``stats()["completions"]`` counts every request,
``["texts"]`` the inputs received; :attr:`ClassifierServer.headers` holds the headers of each
request and :attr:`~ClassifierServer.most_in_flight` the most requests answered at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from evalharness.testing.faults import Fault
from evalharness.testing.stub_app import StubApp
from evalharness.testing.stub_server import StubServer

CATEGORIES = ("hate", "harassment", "safe")
WORDS = {"vermin": "hate", "subhuman": "hate", "idiot": "harassment", "loser": "harassment"}
CONFIDENCE = 0.9


def classify(text: str, words: Mapping[str, str] = WORDS) -> str:
    """The category the server gives ``text`` (tests compute expectations with it too)."""
    lower = text.lower()
    return next((category for word, category in words.items() if word in lower), "safe")


def answer(text: str, words: Mapping[str, str] = WORDS) -> dict[str, Any]:
    category = classify(text, words)
    rest = (1.0 - CONFIDENCE) / (len(CATEGORIES) - 1)
    scores = {c: CONFIDENCE if c == category else rest for c in CATEGORIES}
    return {"id": "modr-test", "results": [{"flagged": category != "safe", "category": category,
                                            "score": CONFIDENCE, "category_scores": scores}]}


class ClassifierApp(StubApp):
    """The stub server's state with a classify endpoint instead of chat completions."""

    def __init__(self, *, words: Mapping[str, str], api_key: str | None,
                 faults: Mapping[str, Fault | str] | None, hang_s: float, retry_after_s: int,
                 latency_s: float) -> None:
        super().__init__(
            latency_s=latency_s, violating_words=(), json_schema_supported=True, refusal_word=None,
            offlabel_word=None, confidence=CONFIDENCE, model="classifier", fault_times=0,
            faults=faults, hang_s=hang_s, retry_after_s=retry_after_s, rate_limit_rps=None,
            rate_limit_burst=None, upstream=None, upstream_timeout_s=1.0, api_key=api_key)
        self.words = dict(words)
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.most_in_flight = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/classify", self._classify)
        app.router.add_get("/classify", self._classify)
        app.router.add_get("/health", self._health)
        return app

    async def _classify(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if request.method == "GET":
            body: Any = dict(request.query)
        else:
            try:
                body = json.loads(await request.read())
            except ValueError:
                body = None
        text = body.get("input") if isinstance(body, dict) else None
        entry = self._arrive(request.path, text, text)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            response = await self._respond(entry, text, request)
        except asyncio.CancelledError:  # the client gave up (a timeout), or the server stops
            self._finish(entry, None)
            raise
        finally:
            self.in_flight -= 1
        self._finish(entry, response.status)
        return response

    async def _respond(self, entry: dict[str, Any], text: Any,
                       request: web.Request) -> web.Response:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and sent != self.api_key:
            return _json(401, {"error": f"invalid API key {sent}"})
        if not isinstance(text, str):
            return _json(400, {"error": 'send {"input": "<text>"}'})
        matched = self.faults.match(text, text)
        if matched is not None:
            marker, fault = matched
            self._fault(entry, fault.kind, marker)
            if fault.status == 429:
                return _json(429, {"error": "slow down"}, {"Retry-After": str(self.retry_after_s)})
            if fault.status is not None:
                return _json(fault.status, {"error": f"injected {fault.status}"})
            if fault.kind == "hang" and not await self._sleep(self.hang_s):
                return _json(503, {"error": "stopping"})
            if fault.kind == "badjson":
                return web.Response(status=200, body=b'{"results": [{"flagged": tr',
                                    content_type="application/json")
        if not await self._sleep(self.latency_s):
            return _json(503, {"error": "stopping"})
        if "EMPTYRESULT" in text:
            return _json(200, {"results": []})
        return _json(200, answer(text, self.words))


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


class ClassifierServer(StubServer):
    """:class:`ClassifierApp` in a background thread; ``url`` is its classify endpoint."""

    def __init__(self, *, words: Mapping[str, str] = WORDS, api_key: str | None = None,
                 faults: Mapping[str, Fault | str] | None = None, hang_s: float = 10.0,
                 retry_after_s: int = 1, latency_s: float = 0.0) -> None:
        super().__init__()
        self._stub = ClassifierApp(words=words, api_key=api_key, faults=faults, hang_s=hang_s,
                                   retry_after_s=retry_after_s, latency_s=latency_s)

    @property
    def url(self) -> str:
        return f"{self.base_url}/classify"

    @property
    def app(self) -> ClassifierApp:
        assert isinstance(self._stub, ClassifierApp)
        return self._stub

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers of every request so far, in arrival order."""
        return list(self.app.headers)

    @property
    def most_in_flight(self) -> int:
        """The most requests the server was answering at once."""
        return self.app.most_in_flight
