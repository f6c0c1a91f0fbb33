"""The stub server's HTTP answers (aiohttp): OpenAI-shaped errors, rate limits, and the broken
replies of the fault kinds in :mod:`.faults` (bodies cut short, wrong content types, dropped
connections)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web

BROKEN_JSON = (b'{"id": "chatcmpl-stub-broken", "object": "chat.completion", "choices": '
               b'[{"index": 0, "message": {"role": "assist')

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
             b"<h1>Bad Gateway</h1><p>The proxy could not reach the upstream server.</p>"
             b"</body></html>")

BODY_KINDS = frozenset({"badjson", "truncated", "html", "empty_choices"})
"""Kinds answered with a broken body built from the real reply (status 200 or none)."""


class Dropped(Exception):
    """The connection was closed on purpose (``reset``, ``truncated``): there is no response."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json", headers=headers)


def error(status: int, message: str, *, kind: str = "invalid_request_error",
          headers: Mapping[str, str] | None = None, code: str | None = None,
          param: str | None = None, echo: Mapping[str, str] | None = None) -> web.Response:
    """An OpenAI-shaped error; ``echo`` (request headers) is quoted in the message, as some
    providers and proxies do — Authorization included."""
    if echo is not None:
        message += f" (request headers: {json.dumps(dict(echo))})"
    return json_response(status, {"error": {"message": message, "type": kind, "param": param,
                                            "code": code}}, headers)


def key_refused(expected: str | None, request: web.Request,
                echo: Mapping[str, str] | None = None) -> web.Response | None:
    """A 401 when ``expected`` is set and the request's bearer key is another; like the real
    thing, its message quotes the key that was sent. None when the key is accepted."""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if expected is None or given == expected:
        return None
    return error(401, f"Incorrect API key provided: {given}. You can find your API key in your "
                 "account settings.", code="invalid_api_key", echo=echo)


def rate_limited(retry_after_s: float | None, message: str,
                 echo: Mapping[str, str] | None = None) -> web.Response:
    """429; with ``Retry-After`` (whole seconds, and ``retry-after-ms`` when fractional) and
    ``x-ratelimit-remaining-requests: 0`` unless ``retry_after_s`` is None."""
    headers: dict[str, str] = {}
    if retry_after_s is not None:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after_s))),
                   "x-ratelimit-remaining-requests": "0"}
        if retry_after_s != int(retry_after_s):
            headers["retry-after-ms"] = str(round(retry_after_s * 1000))
    return error(429, message, kind="requests", code="rate_limit_exceeded", headers=headers,
                 echo=echo)


def drop(request: web.Request) -> None:
    """Close the connection without a response (the client sees a reset / server disconnect)."""
    if request.transport is not None:
        request.transport.abort()
    raise Dropped("reset")


async def broken_body(kind: str, request: web.Request, reply: dict[str, Any]) -> web.Response:
    """The reply of a body kind (:data:`BODY_KINDS`); ``truncated`` raises :class:`Dropped` after
    sending half the body under a Content-Length for all of it."""
    if kind == "badjson":
        return web.Response(status=200, body=BROKEN_JSON, content_type="application/json")
    if kind == "html":
        return web.Response(status=200, body=HTML_PAGE, content_type="text/html")
    if kind == "empty_choices":
        return json_response(200, {**reply, "choices": []})
    assert kind == "truncated", kind
    body = json.dumps(reply).encode()
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()  # close, not abort: what was written is sent first
    raise Dropped("truncated")
