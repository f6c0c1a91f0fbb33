"""Chat completions from an OpenAI-compatible endpoint over aiohttp, for the ``llm`` decider.

The openai SDK costs ~2 ms of CPU per call on this path (its typed request transform, httpx and
response models); one aiohttp POST of the JSON body costs ~0.25 ms (``bench/api_throughput.py``,
``bench/RESULTS.md``). Every failure becomes the same :class:`~.model.CallError` the SDK path
raises — status answers as ``HTTP <status>``, and retryable connection resets, cut bodies,
bodies that are not JSON — so retries, the fail-closed stop and the error messages are those of
the SDK path. Azure OpenAI (its deployment URLs and ``api-key`` header) stays on the SDK.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from .model import CallError, connection_reset, json_body, truncated_body

DEFAULT_BASE = "https://api.openai.com/v1"


class OpenAiHttp:
    """POST ``/chat/completions`` of one base URL; one connection pool per event loop."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout_s: float) -> None:
        base = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE
        self.url = base.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"),
                            ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(env):
                self.headers[header] = os.environ[env]
        self.timeout_s = timeout_s
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._send: dict[str, Any] = {}
        """``proxy``/``proxy_auth``/``auth`` of every POST, looked up once per session."""

    def _session_here(self) -> Any:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._send = self._from_env()
            # the caller's asyncio.timeout bounds each attempt; this is a backstop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s + 5))
            self._loop = loop
        return self._session

    def _from_env(self) -> dict[str, Any]:
        """HTTP(S)_PROXY / NO_PROXY and ``.netrc``, as the SDK's httpx honours them, read once.

        aiohttp's ``trust_env=True`` reads them on every request, in a worker thread: a third of
        the event loop's time at 320 requests/s (``bench/api_throughput.py``)."""
        from aiohttp import helpers
        from yarl import URL

        url, send = URL(self.url), {}
        try:
            send["proxy"], send["proxy_auth"] = helpers.get_env_proxy_for_url(url)
        except LookupError:
            pass
        if not self.api_key and url.host:  # a key's Authorization header excludes netrc auth
            netrc = helpers.netrc_from_env()
            try:
                send["auth"] = helpers.basicauth_from_netrc(netrc, url.host)
            except LookupError:
                pass
        return send

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """(the completion as parsed JSON, the response headers); raises :class:`CallError`."""
        import aiohttp

        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            session = self._session_here()
            async with session.post(self.url, data=data, headers=self.headers,
                                    **self._send) as resp:
                content = await resp.read()
                status, headers = resp.status, dict(resp.headers)
        except aiohttp.ClientPayloadError as exc:
            raise CallError(truncated_body(exc), retryable=True) from None
        except (aiohttp.ServerDisconnectedError, ConnectionResetError) as exc:
            raise CallError(connection_reset(exc), retryable=True) from None
        except aiohttp.ClientOSError as exc:
            if isinstance(exc.__cause__, ConnectionResetError) or "reset" in str(exc).lower():
                raise CallError(connection_reset(exc), retryable=True) from None
            raise CallError(f"connection error: {type(exc).__name__}: {exc}",
                            retryable=True) from None
        except aiohttp.ClientError as exc:
            raise CallError(f"connection error: {type(exc).__name__}: {exc}",
                            retryable=True) from None
        text = content.decode("utf-8", errors="replace")
        if status >= 400:
            try:
                shown: Any = json.loads(text)
            except ValueError:
                shown = text
            if isinstance(shown, dict) and "error" in shown:
                shown = shown["error"]
            raise CallError.from_status(status, f"Error code: {status} - {shown}", headers)
        content_type = headers.get("Content-Type", headers.get("content-type", "*"))
        return json_body(content_type, text), headers
