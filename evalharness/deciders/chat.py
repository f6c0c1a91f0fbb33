"""LLMs behind an API: OpenAI-compatible endpoints directly (a JSON POST over aiohttp, see
:mod:`.openai_http`; Azure through the openai SDK), the rest through litellm.

All paths send the same request and normalise the reply to the same dict (text, refusal, finish
reason, logprobs, usage), so decisions, usage and cost records are identical whichever path served
them. The direct path costs far less CPU per request (see ``bench/RESULTS.md``); litellm is
imported only when a config uses a non-OpenAI provider, openai only for Azure.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from ..records.errors import DeciderError
from .parsing import parse_reply
from ..inputs.policies import Policy
from ..inputs.images import data_url
from ..inputs.prices import TokenPrice, lookup_price, supports_response_schema, supports_vision
from ..records import Decision, GoldenItem, Usage
from .base import DecisionRequest, check_prompt_variant
from .model import CallError, ModelDecider, json_body, openai_call_errors
from .completion import normalise_json
from .batch_api import ProviderBatches
from .openai_sdk import model_name, provider_of, sdk_client
from .fleet import Fleet
from .openai_http import OpenAiHttp
from .redaction import key_and_environment_secrets

if TYPE_CHECKING:
    from ..inputs.config import RunConfig
    from .llm_options import LlmDeciderConfig

_DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "azure": "AZURE_OPENAI_API_KEY"}
OPENAI_COMPATIBLE = {"openai", "azure", "hosted_vllm", "lm_studio", "llamafile", "openai_like"}
_NOT_SENT = ("api_base", "policy", "bundle", "model")
"""Payload keys that are part of the cache key but not of the request body."""


def answer_format(policy: Policy, mode: str) -> str:
    """The answer instruction appended to the policy text (static, so prefix caching still works)."""
    labels = ", ".join(policy.label_names)
    if mode == "text":
        return f"Answer with exactly one word, one of: {labels}."
    return (
        'Respond with only a JSON object {"label": ..., "confidence": ...}, where "confidence" is '
        'your probability (0 to 1) that the label is right and "label" is one of: ' + labels + "."
    )


def response_format(policy: Policy, mode: str) -> dict[str, Any] | None:
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": policy.label_names},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    }
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": "moderation_decision", "strict": True, "schema": schema}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def _http_response_type() -> type:
    """The HTTP response class the openai SDK hands back as it is (``cast_to``)."""
    try:
        from openai._httpx2 import http_response_types
    except ImportError:  # openai releases built on httpx
        import httpx

        return httpx.Response
    return http_response_types()[0]


def with_images(message: dict[str, Any], item: GoldenItem) -> dict[str, Any]:
    """The item's user message with its images after the text, as OpenAI-style content parts."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}]
    parts += [{"type": "image_url", "image_url": {"url": data_url(ref, item._image_dir)}}
              for ref in item.images]
    return {**message, "content": parts}


class ChatLlm(ModelDecider):
    """An LLM reached over HTTP (OpenAI, Azure, vLLM, llama.cpp server, Anthropic, ...)."""

    kind = "llm"

    def __init__(self, config: LlmDeciderConfig, run_config: RunConfig, variant: str = "default",
                 name: str | None = None) -> None:
        super().__init__(name or config.name)
        self.config = config
        self.variant = variant
        self.fleet = Fleet(config.api_bases, config.concurrency) if config.api_bases else None
        self.concurrency = config.concurrency * (len(self.fleet.bases) if self.fleet else 1)
        self.timeout_s = config.timeout_s
        self.max_attempts = config.max_attempts
        provider = provider_of(config.model)
        if config.client == "auto":
            self.client_kind = "openai" if provider in OPENAI_COMPATIBLE else "litellm"
        else:
            self.client_kind = config.client
        self.mode = config.structured_output
        if self.mode == "auto":
            self.mode = "json_schema" if supports_response_schema(config.model) else "text"
        self.want_logprobs = (config.logprobs if config.logprobs is not None
                              else self.client_kind == "openai")
        self.sees_images = (config.vision if config.vision is not None
                            else supports_vision(config.model))
        self.price: TokenPrice | None = None
        self._client: Any = None

    # set-up ---------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self.fleet is not None:
            return ",".join(self.fleet.bases)
        return self.config.api_base or provider_of(self.config.model)

    @property
    def _local(self) -> bool:
        """Behind ``api_base`` or ``api_bases`` (a server that may need no key)."""
        return bool(self.config.api_base or self.config.api_bases)

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        return os.environ.get(env) if env else None

    def secrets(self) -> list[str]:
        """Values that must never be written anywhere: the configured key, and every key-like
        environment variable a client library may read on its own (OPENAI_API_KEY, ...)."""
        return key_and_environment_secrets(self.config.api_key_env)

    def check(self, policies: list[Policy], items: list[GoldenItem]) -> None:
        self.price = lookup_price(self.config.model, self.config.price, batch=self.config.batch)
        if self.price is None:
            raise DeciderError(
                f"no known {'batch ' if self.config.batch else ''}price for model "
                f"{self.config.model!r}", field=f"deciders.{self.config.name}.price",
                fix="add price: {input_per_mtok: ..., output_per_mtok: ...} (the provider's "
                    f"{'batch ' if self.config.batch else ''}rate; 0 for a local server)",
            )
        if self.config.api_key_env and not os.environ.get(self.config.api_key_env):
            raise DeciderError(
                f"environment variable {self.config.api_key_env} is not set",
                field=f"deciders.{self.config.name}.api_key_env",
                fix=f"export {self.config.api_key_env}=... before running",
            )
        default_env = _DEFAULT_KEY_ENV.get(provider_of(self.config.model))
        if (self.client_kind == "openai" and not self.config.api_key_env and not self._local
                and default_env and not os.environ.get(default_env)):
            raise DeciderError(
                f"no API key for {self.config.model}",
                field=f"deciders.{self.config.name}.api_key_env",
                fix=f"set api_key_env: {default_env} and export that variable",
            )
        if self.client_kind == "openai" and provider_of(self.config.model) == "azure" and not (
            self.config.api_base and self.config.api_version
        ):
            raise DeciderError("Azure OpenAI needs api_base and api_version",
                               field=f"deciders.{self.config.name}", fix="set both")
        check_prompt_variant(policies, self.variant, self.config.name)

    def setup(self, policies: list[Policy], items: list[GoldenItem]) -> None:
        self._client = None
        self._replicas: dict[str, OpenAiHttp] = {}
        if self.client_kind == "openai":
            self._openai_client()

    def _openai_client(self, base: str | None = None) -> Any:
        if base is not None:  # a replica of the fleet
            if base not in self._replicas:
                self._replicas[base] = OpenAiHttp(base, self.openai_key(), self.timeout_s)
            return self._replicas[base]
        if self._client is None:  # Azure through the SDK, everything else over aiohttp
            self._client = (sdk_client(self.config, self.openai_key())
                            if provider_of(self.config.model) == "azure"
                            else OpenAiHttp(self.config.api_base, self.openai_key(), self.timeout_s))
        return self._client

    def openai_key(self) -> str | None:
        """The configured key; without one, OPENAI_API_KEY / AZURE_OPENAI_API_KEY (the SDK's
        own choice); a local server behind api_base may need no key at all."""
        default_env = _DEFAULT_KEY_ENV.get(provider_of(self.config.model), "")
        if self._api_key():
            return self._api_key()
        if not self._local:
            return os.environ.get(default_env)
        return os.environ.get(default_env) or "not-needed"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.config.model,
            "api_base": self.config.api_bases or self.config.api_base,
            **({"fleet": self.fleet.stats()} if self.fleet else {}),
            "client": self.client_kind,
            **({"batch": {"completion_window": self.config.batch_window,
                          "max_requests": self.config.batch_max_requests}}
               if self.config.batch else {}),
            "structured_output": self.mode,
            "logprobs": self.want_logprobs,
            "prompt_variant": self.variant,
            "sees_images": self.sees_images,
            "params": {"temperature": self.config.temperature, "max_tokens": self._max_tokens(),
                       "seed": self.config.seed, "concurrency": self.config.concurrency,
                       "timeout_s": self.config.timeout_s, "max_attempts": self.config.max_attempts},
            "price_per_token": self.price.as_dict() if self.price else None,
        }

    async def aclose(self) -> None:
        if self._client is not None and hasattr(self._client, "aclose"):
            await self._client.aclose()
        for replica in getattr(self, "_replicas", {}).values():
            await replica.aclose()

    def close(self) -> None:
        self._client = None

    # requests -------------------------------------------------------------------------------------
    def _example_reply(self, label: str) -> str:
        return label if self.mode == "text" else json.dumps({"label": label, "confidence": 1.0})

    def _max_tokens(self) -> int:
        return self.config.max_tokens or (16 if self.mode == "text" else 64)

    def payload(self, request: DecisionRequest) -> dict[str, Any]:
        policy = request.policy
        messages = policy.messages(request.item, variant=self.variant,
                                   answer_instruction=answer_format(policy, self.mode),
                                   example_reply=self._example_reply)
        return self._body(request.item, messages, response_format(policy, self.mode),
                          policy=[policy.id, policy.version])

    def _body(self, item: GoldenItem, messages: list[dict[str, Any]],
              fmt: dict[str, Any] | None, **tag: Any) -> dict[str, Any]:
        """The request: ``messages`` (the item's images added for a vision model), the sampling
        options and answer format, and ``tag`` (what was asked, e.g. the policy and version:
        part of the cache key, not sent)."""
        if self.sees_images and item.images:
            messages[-1] = with_images(messages[-1], item)
        body: dict[str, Any] = {
            "model": self.config.model,
            "api_base": self.config.api_bases or self.config.api_base,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self._max_tokens(),
            **tag,
        }
        if fmt is not None:
            body["response_format"] = fmt
        if self.want_logprobs:
            body["logprobs"] = True
            if self.config.top_logprobs:
                body["top_logprobs"] = self.config.top_logprobs
        if self.config.seed is not None:
            body["seed"] = self.config.seed
        return body

    def sent(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The request body's parameters (all but the model name) of a payload."""
        return {k: v for k, v in payload.items() if k not in _NOT_SENT}

    def batch_api(self) -> ProviderBatches | None:
        if not self.config.batch:
            return None
        return ProviderBatches(self.config, client_kind=self.client_kind,
                               api_key=self.openai_key(), sent=self.sent)

    async def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        params = self.sent(payload)
        start = time.perf_counter()
        if self.fleet is None:
            response = await self._call_base(params, None)
        else:
            base = self.fleet.pick()
            async with self.fleet.slot(base):
                try:
                    response = await self._call_base(params, base)
                except CallError as exc:
                    if exc.retryable:
                        self.fleet.failed(base)  # the retry goes to another replica
                    raise
            self.fleet.succeeded(base)
            response["endpoint"] = base
        response["latency_s"] = time.perf_counter() - start
        return response

    async def _call_base(self, params: dict[str, Any], base: str | None) -> dict[str, Any]:
        if self.client_kind == "openai":
            return await self._call_openai(params, base)
        return await self._call_litellm(params, base)

    async def _call_openai(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        client = self._openai_client(base)
        body = {"model": model_name(self.config.model), **params}
        if isinstance(client, OpenAiHttp):  # raises CallError itself
            completion, headers = await client.create(body)
        else:
            with openai_call_errors():
                # the SDK's transport, auth, Azure routing and status errors; the body as it is
                # (plain JSON already), and the answer read here without building typed models
                raw = await client.post("/chat/completions", body=body,
                                        cast_to=_http_response_type())
                headers = raw.headers
                completion = json_body(headers.get("content-type", "*"), raw.text)
        if not isinstance(completion, dict) or not completion.get("choices"):
            raise CallError("malformed response: empty choices", retryable=True)
        response = normalise_json(completion)
        response["rate_limit"] = CallError.rate_limit_hint(headers)
        return response

    async def _call_litellm(self, params: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        import litellm
        import openai

        litellm.suppress_debug_info = True
        try:
            completion = await litellm.acompletion(
                model=self.config.model, api_base=base or self.config.api_base,
                api_key=self._api_key() or ("not-needed" if self._local else None),
                api_version=self.config.api_version, timeout=self.timeout_s, num_retries=0, **params,
            )
        except (litellm.RateLimitError, litellm.InternalServerError, litellm.ServiceUnavailableError,
                litellm.BadGatewayError, litellm.Timeout, litellm.APIConnectionError) as exc:
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            status = getattr(exc, "status_code", None)
            raise CallError(f"{type(exc).__name__}: {exc}", retryable=True, status=status,
                            retry_after=CallError.retry_after_of(headers)) from None
        except openai.APIStatusError as exc:  # litellm's auth, permission, not-found, bad request
            raise CallError.from_status(exc.status_code, f"{type(exc).__name__}: {exc}",
                                        exc.response.headers if exc.response is not None else {}) from None
        except litellm.APIError as exc:
            status = getattr(exc, "status_code", None)
            raise CallError(f"{type(exc).__name__}: {exc}", status=status,
                            retryable=status is not None and status >= 500) from None
        except ValueError as exc:
            raise CallError(f"malformed response: {exc}", retryable=True) from None
        if not getattr(completion, "choices", None):
            raise CallError("malformed response: empty choices", retryable=True)
        return normalise_json(completion.model_dump())

    def parse(self, request: DecisionRequest, response: dict[str, Any], *, cached: bool,
              attempts: int) -> Decision:
        parsed = parse_reply(response, request.policy.label_names, self.mode)
        usage = Usage(**response.get("usage", {}))
        assert self.price is not None, "check() runs first"
        return self.decision(
            request,
            label=parsed.label,
            outcome=parsed.outcome,
            confidence=parsed.confidence,
            confidence_source=parsed.confidence_source,
            scores=parsed.scores,
            error=parsed.error,
            raw=None if parsed.outcome == "ok" else (response.get("text") or response.get("refusal")),
            usage=usage,
            cost_usd=self.price.cost(usage),
            latency_s=response.get("latency_s"),
            cached=cached,
            attempts=attempts,
            endpoint=response.get("endpoint"),
        )
