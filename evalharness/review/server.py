"""The viewer's web server: one page and a JSON API, on 127.0.0.1 only, no network beyond it.

``GET /`` is the page (its script and styles inline: no CDN); ``GET /api/meta`` the filters'
choices, the runs and each decider's confusion matrices; ``GET /api/rows?<filters>`` one page of
rows (:mod:`.query`) and how many match; ``POST /api/adjudicate`` records a reviewer's verdict
through the callback it was given (it must carry the page's token, so another site's page cannot
post one); ``GET /report.html`` the run's report, whose confusion-matrix cells then link to the
filtered rows. Every item text is sent as JSON data and shown with ``textContent``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from .query import Query, QueryError
from .queue import REASONS, Queue
from .table import ReviewTable

__all__ = ["ReviewState", "ViewServer"]

VIEWER_FLAG = '<meta name="evalharness-viewer" content="1">'
"""Put into the report a viewer serves, so its matrix cells become links (report.js; a meta tag,
which the report's script-hash CSP allows)."""


@dataclass
class ReviewState:
    """What the server shows: the rows, their queue, the matrices, where verdicts go."""

    table: ReviewTable
    queue: Queue
    matrices: list[dict[str, Any]]
    """Per policy and decider (all items): labels, columns and counts, from ``metrics.json``."""
    adjudicate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Records a verdict (raises ``ValueError`` with a message for a bad one)."""
    adjudication_file: str | None = None
    adjudicated: dict[tuple[str, str], str] = field(default_factory=dict)
    """The standing verdicts' labels by (item, policy): rows show them, and a form sends the
    one it saw as the gold it corrects."""
    report: Path | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _meta: dict[str, Any] | None = field(default=None, repr=False)

    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = self._describe()
        return self._meta

    def _describe(self) -> dict[str, Any]:
        t = self.table
        slices: dict[str, list[str]] = {key: [] for key in t.slice_by}
        for key, value in t.slice_items:
            slices[key].append(value)
        first = np.unique(t.decider.codes, return_index=True)[1]
        deciders = {t.decider[int(i)]: t.kind[int(i)] for i in sorted(first)}
        return {
            "runs": [t.a.run_id] + ([t.b.run_id] if t.b else []),
            "n": t.n, "policies": {p: list(t.labels.get(p, ())) for p in t.policy.values},
            "deciders": deciders, "outcomes": list(t.outcome.values),
            "slices": {k: sorted(v) for k, v in slices.items()}, "reasons": list(REASONS),
            "queue": int(self.queue.any.sum()), "matrices": self.matrices,
            "adjudication_file": self.adjudication_file, "token": self.token,
            "report": self.report is not None,
        }

    def rows(self, params: dict[str, str]) -> dict[str, Any]:
        query = Query.parse(params)
        picked = query.rows(self.table, self.queue)
        page = picked[query.offset:query.offset + query.limit]
        rows = [self.table.row(int(i), self.queue.reasons(int(i))) for i in page]
        for row in rows:
            row["adjudicated"] = self.adjudicated.get((row["item_id"], row["policy"]))
        return {"total": int(len(picked)), "offset": query.offset, "rows": rows}


def _page() -> str:
    return resources.files(__package__).joinpath("templates", "viewer.html").read_text("utf-8")


class ViewServer:
    """Serves a :class:`ReviewState` on ``127.0.0.1:port`` (0 picks a free port), in a thread
    (:meth:`start` / :meth:`stop`) or in the foreground (:meth:`serve_forever`)."""

    def __init__(self, state: ReviewState, port: int = 0) -> None:
        self.state = state
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(128)  # connections wait in the backlog until the app is serving
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._page = _page()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/api/meta", self._meta)
        app.router.add_get("/api/rows", self._rows)
        app.router.add_post("/api/adjudicate", self._adjudicate)
        app.router.add_get("/report.html", self._report)
        return app

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", headers=_HEADERS)

    async def _meta(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.meta())

    async def _rows(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.state.rows(dict(request.query)))
        except QueryError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def _adjudicate(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if not isinstance(body, dict) or body.get("token") != self.state.token:
            return web.json_response({"error": "missing or wrong page token"}, status=403)
        if self.state.adjudicate is None:
            return web.json_response({"error": "this viewer records no verdicts"}, status=409)
        try:
            verdict = self.state.adjudicate({k: v for k, v in body.items() if k != "token"})
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.state.adjudicated[(verdict["item_id"], verdict["policy"])] = verdict["new_label"]
        return web.json_response(verdict)

    async def _report(self, request: web.Request) -> web.Response:
        if self.state.report is None or not self.state.report.exists():
            return web.Response(status=404, text="this run has no report.html")
        html = self.state.report.read_text(encoding="utf-8")
        html = html.replace("<head>", "<head>" + VIEWER_FLAG, 1)
        return web.Response(text=html, content_type="text/html", headers=_HEADERS)

    async def _serve(self, ready: threading.Event | None = None) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, self._sock).start()
            if ready is not None:
                ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def serve_forever(self) -> None:
        """Serve until Ctrl-C."""
        try:
            asyncio.run(self._serve())
        finally:
            self._sock.close()

    def start(self) -> ViewServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready)),
                                        daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the viewer did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_HEADERS = {"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
            "X-Content-Type-Options": "nosniff"}
"""Nothing but this server: no CDN, no other site, even if some text escaped its escaping."""
