"""The ``http`` decider kind: a REST classifier a team already runs (a moderation API, a model
server, an in-house service), called once per item through the same runner as LLM calls —
response cache, bounded and adaptive concurrency per endpoint, retries of retryable failures
only, a per-request timeout, and a stop at the first 401/403/404.

The request is a JSON template whose strings may hold ``{text}``, ``{policy}`` and ``{item_id}``;
the item's values go into the built object (never formatted into JSON text). Secrets stay in the
environment: ``url`` and ``headers`` may reference ``${VAR}``, which is read at call time only, so
the cache key, decisions, the manifest and logs hold the reference, never the value. Where the
answer is comes from ``score_path`` and/or ``label_path`` (:mod:`.http_response`); classes map to
policy labels with ``labels:`` (:mod:`.scored`). The response is cached when the call succeeds,
like an LLM's reply: an answer that lacks a path is an ``invalid`` outcome (re-read from the cache
when the paths change), a failed call an ``error`` that is never cached.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, JsonValue, field_validator, model_validator

from ..inputs.policies import Policy
from ..records import Decision, GoldenItem
from .base import DecisionRequest
from .http_response import Path, parse_path, read_answer
from .model import CallError, ModelDecider
from .registry import decider
from .scored import ScoredOptions

if TYPE_CHECKING:
    import httpx

    from ..inputs.config import RunConfig

__all__ = ["HttpClassifier", "HttpDeciderConfig"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = re.compile(r"(?<!\$)\{(\w+)\}")
PLACEHOLDERS = ("text", "policy", "item_id")
"""What a ``request`` string may hold: the item's text, the policy id, the item id."""
_SECRET_HEADER = re.compile(r"authorization|key|token|secret|cookie|password", re.I)
_SECRET_QUERY = re.compile(r"[?&]([\w-]*(?:key|token|secret|password)[\w-]*)=([^&]*)", re.I)
RAW_CHARS = 2000
"""How much of an answer an ``invalid`` decision keeps."""


def _strings(value: Any) -> list[str]:
    """Every string value (not key) in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def fill(template: JsonValue, values: dict[str, str]) -> JsonValue:
    """``template`` with each ``{name}`` in its strings replaced by ``values[name]``, in one pass
    (an item text that holds ``{policy}`` stays as it is)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def expand_env(text: str) -> str:
    """``text`` with each ``${VAR}`` replaced by the variable's value (checked set beforehand)."""
    return _ENV.sub(lambda m: os.environ.get(m.group(1), ""), text)


class HttpDeciderConfig(ScoredOptions):
    """A REST classifier: one request per item, its JSON answer read at ``score_path`` and/or
    ``label_path``."""

    kind: Literal["http"]
    url: str
    """``http://`` or ``https://`` address of the classify endpoint; may reference environment
    variables as ``${VAR}`` (e.g. a ``?key=${PERSPECTIVE_KEY}`` query), read at call time."""
    method: Literal["POST", "GET"] = "POST"
    """``POST`` sends ``request`` as the JSON body; ``GET`` sends it as query parameters (then
    ``request`` is a flat mapping)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers; values may reference ``${VAR}``, e.g. ``Authorization: "Bearer
    ${MODERATION_API_KEY}"``. A key-like header (Authorization, ``*key*``, ``*token*``) must take
    its value from the environment."""
    request: JsonValue = Field(default_factory=lambda: {"text": "{text}"})
    """The request as JSON; its strings may hold ``{text}`` (required), ``{policy}`` and
    ``{item_id}``, e.g. ``{input: "{text}", model: text-moderation-stable}``."""
    score_path: str | None = None
    """Where the answer's scores are: a probability per class (a mapping, or a list of
    ``{label, score}``), or one probability of the violating label of a two-label policy; e.g.
    ``results.0.category_scores``. With ``label_path``: the probability of that label."""
    label_path: str | None = None
    """Where the answer's class is (a string, number or boolean, mapped by ``labels``), e.g.
    ``results.0.flagged`` with ``labels: {"true": hate, "false": none}``. Alone it gives no
    confidence."""
    concurrency: int = Field(default=8, ge=1, le=1024)
    """Most requests in flight to this host; lowered automatically on rate limits (429)."""
    timeout_s: float = Field(default=30.0, gt=0)
    """Per-request timeout; a request that takes longer is retried like a 5xx."""
    max_attempts: int = Field(default=4, ge=1, le=20)
    """Tries per item for retryable failures (429, 5xx, timeouts, connection errors, a body that
    is not JSON); 400 and other client errors are not retried."""

    @field_validator("url")
    @classmethod
    def _address(cls, url: str) -> str:
        if not re.match(r"https?://[^/\s]+", url):
            raise ValueError("url must start with http:// or https:// and name a host")
        for name, value in _SECRET_QUERY.findall(url):
            if value and not _ENV.search(value):
                raise ValueError(f"query parameter {name!r} holds a literal secret; write it as "
                                 f"{name}=${{ENV_VAR}} and export ENV_VAR")
        return url

    @field_validator("headers")
    @classmethod
    def _no_literal_secrets(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if _SECRET_HEADER.search(name) and not _ENV.search(value):
                raise ValueError(f"header {name!r} holds a literal secret; write it as "
                                 f'"{name}: ... ${{ENV_VAR}}" and export ENV_VAR')
        return headers

    @field_validator("score_path", "label_path")
    @classmethod
    def _path(cls, path: str | None) -> str | None:
        if path is not None:
            parse_path(path)
        return path

    @model_validator(mode="after")
    def _consistent(self) -> HttpDeciderConfig:
        strings = _strings(self.request)
        if any("${" in s for s in strings):
            raise ValueError("request: ${VAR} works in url and headers only (secrets never go "
                             "into the cached request)")
        used = {name for s in strings for name in _PLACEHOLDER.findall(s)}
        unknown = sorted(used - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"request: unknown placeholder(s) {unknown}; use "
                             + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
        if "text" not in used:
            raise ValueError('request: put "{text}" where the item text goes, e.g. '
                             'request: {text: "{text}"}')
        if self.method == "GET" and not (isinstance(self.request, dict) and all(
                isinstance(v, (str, int, float, bool)) for v in self.request.values())):
            raise ValueError("method GET sends request as query parameters: make it a flat "
                             "mapping of names to strings or numbers")
        if self.score_path is None and self.label_path is None:
            raise ValueError("say where the answer is: score_path, label_path or both")
        return self


class HttpClassifier(ModelDecider):
    """One REST call per item; the answer read by :func:`.http_response.read_answer`."""

    kind = "http"

    def __init__(self, config: HttpDeciderConfig, run_config: RunConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self.run_config = run_config
        self.concurrency = config.concurrency
        self.timeout_s = config.timeout_s
        self.max_attempts = config.max_attempts
        self.score_path: Path | None = parse_path(config.score_path) if config.score_path else None
        self.label_path: Path | None = parse_path(config.label_path) if config.label_path else None
        self._client: httpx.AsyncClient | None = None
        self._in_flight = 0
        self._closers: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        """Requests to one host share its concurrency and rate limits."""
        parts = urlsplit(self.config.url)
        return f"{parts.scheme}://{parts.netloc}"

    def _env_names(self) -> list[str]:
        texts = [self.config.url, *self.config.headers.values()]
        return sorted({name for text in texts for name in _ENV.findall(text)})

    def secrets(self) -> list[str]:
        """The values of every environment variable ``url`` and ``headers`` reference."""
        return [v for v in (os.environ.get(name) for name in self._env_names()) if v]

    def _problem(self, message: str, field: str, fix: str) -> Exception:
        index = next(i for i, d in enumerate(self.run_config.deciders) if d.name == self.name)
        return self.run_config.problem(message, "deciders", index, field, fix=fix)

    def check(self, policies: list[Policy], items: list[GoldenItem]) -> None:
        """The referenced variables are set; ``labels`` and ``threshold`` fit every policy."""
        for name in self._env_names():
            if not os.environ.get(name):
                field = "url" if name in _ENV.findall(self.config.url) else "headers"
                raise self._problem(f"environment variable {name} is not set", field,
                                    f"export {name}=... before running")
        for policy in policies:
            wrong = sorted({v for v in (self.config.labels or {}).values()} - set(policy.label_names))
            if wrong:
                raise self._problem(f"{wrong} are not labels of policy {policy.id}", "labels",
                                    f"map classes to {policy.label_names}")
            binary = len(policy.label_names) == 2 and len(policy.violating) == 1
            if self.config.threshold is not None and (self.score_path is None or not binary):
                raise self._problem(
                    f"threshold needs score_path and a policy with one violating and one other "
                    f"label ({policy.id} has {policy.label_names})", "threshold",
                    "drop threshold, or limit this decider with policies: [...]")

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {"name": self.name, "kind": self.kind, "model": c.url, "method": c.method,
                "headers": c.headers, "request": c.request, "score_path": c.score_path,
                "label_path": c.label_path, "labels": c.labels, "threshold": c.threshold,
                "cost_per_decision_usd": c.cost_per_decision_usd,
                "params": {"concurrency": c.concurrency, "timeout_s": c.timeout_s,
                           "max_attempts": c.max_attempts}}

    # requests -------------------------------------------------------------------------------------
    def payload(self, request: DecisionRequest) -> dict[str, Any]:
        """The endpoint (as ``model``, with ``${VAR}`` references unexpanded), method, headers
        (names and unexpanded values) and the filled request. How the answer is read (paths,
        ``labels``, ``threshold``) is not in it: changing those re-reads cached answers."""
        values = {"text": request.item.text, "policy": request.policy.id,
                  "item_id": request.item.id}
        return {"model": self.config.url, "method": self.config.method,
                "headers": dict(sorted(self.config.headers.items())),
                "request": fill(self.config.request, values)}

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send on the shared client, whose connections are kept alive between requests and
        closed once it has been idle a moment, or as the event loop ends (a notebook's
        ``decide`` runs a loop per call), so none outlives its loop."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s, limits=httpx.Limits(max_connections=self.concurrency))
        client = self._client
        self._in_flight += 1
        try:
            return await client.request(method, url, **kwargs)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # no new task while the loop ends
                    await self._close_idle(client)
                else:
                    closer = asyncio.get_running_loop().create_task(self._close_idle(client, 1.0))
                    self._closers.add(closer)
                    closer.add_done_callback(self._closers.discard)

    async def _close_idle(self, client: httpx.AsyncClient, after_s: float = 0.0) -> None:
        try:
            await asyncio.sleep(after_s)
        finally:  # also when the ending loop cancels the wait
            if self._client is client and self._in_flight == 0:
                self._client = None
                await client.aclose()

    async def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = expand_env(payload["model"])
        headers = {name: expand_env(value) for name, value in payload["headers"].items()}
        body = payload["request"]
        get = payload["method"] == "GET"
        start = time.perf_counter()
        try:
            reply = await self._send(payload["method"], url, headers=headers,
                                     params=body if get else None, json=None if get else body)
        except httpx.TimeoutException:
            raise CallError(f"timed out after {self.timeout_s:g} s", retryable=True) from None
        except httpx.HTTPError as exc:  # connection refused or reset, protocol errors
            raise CallError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        text = reply.text
        for secret in self.secrets():  # an endpoint that echoes its key never gets it cached
            if len(secret) >= 8:
                text = text.replace(secret, "[redacted]")
        if reply.status_code >= 400:
            raise CallError.from_status(reply.status_code, text[:300], reply.headers)
        try:
            answer = json.loads(text)
        except ValueError:
            raise CallError(f"malformed response: HTTP {reply.status_code} body is not JSON: "
                            f"{text[:80]!r}", retryable=True) from None
        return {"body": answer, "status": reply.status_code,
                "latency_s": time.perf_counter() - start,
                "rate_limit": CallError.rate_limit_hint(reply.headers)}

    def parse(self, request: DecisionRequest, response: dict[str, Any], *, cached: bool,
              attempts: int) -> Decision:
        common = {"cost_usd": self.config.cost_per_decision_usd, "cached": cached,
                  "attempts": attempts, "latency_s": response.get("latency_s")}
        try:
            answer = read_answer(response["body"], request.policy, score_path=self.score_path,
                                 label_path=self.label_path, labels=self.config.labels,
                                 threshold=self.config.threshold)
        except ValueError as exc:
            raw = json.dumps(response["body"], ensure_ascii=False)
            return self.decision(request, label=None, outcome="invalid", error=str(exc),
                                 raw=raw[:RAW_CHARS] + ("..." if len(raw) > RAW_CHARS else ""),
                                 **common)
        return self.decision(
            request, label=answer.label, outcome="ok", confidence=answer.confidence,
            confidence_source="score" if answer.confidence is not None else None,
            scores=answer.scores, **common)


@decider("http", options=HttpDeciderConfig)
def _make(config: HttpDeciderConfig, run_config: RunConfig) -> HttpClassifier:
    return HttpClassifier(config, run_config)
