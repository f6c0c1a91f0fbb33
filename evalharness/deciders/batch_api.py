"""A provider's batch API (``batch: true`` on an llm decider): the requests of a run go up as one
JSONL file, are answered within the provider's completion window at its batch price, and come back
as output and error files.

OpenAI and Azure OpenAI go through the openai SDK (``files`` and ``batches``); other providers
through litellm's batch functions (``acreate_file``, ``acreate_batch``, ...) where litellm
supports them. Each request line carries the chat completion body an online call would send, so
an answer is read exactly as an online one (:meth:`ProviderBatches.answer`).

What a run does with a batch — the ledger in the run folder, polling, a kill between submit and
completion — is :mod:`evalharness.execution.batches`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .completion import normalise_json
from .model import CallError, openai_call_errors
from .openai_sdk import model_name, provider_of, sdk_client

if TYPE_CHECKING:
    from .llm_options import LlmDeciderConfig

__all__ = ["ENDPOINT", "ProviderBatches", "TERMINAL"]

ENDPOINT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Statuses after which a batch changes no more."""
SUBMISSION_KEY = "evalharness_submission"
"""The metadata key that names the run's submission, so a batch whose id the run never learnt (it
was killed while creating it) is found again."""
FIND_DEPTH = 1000
"""How many of the account's newest batches are searched for a lost submission."""


class ProviderBatches:
    """The batch API of one decider's provider: upload, create, retrieve, find, download."""

    def __init__(self, config: LlmDeciderConfig, *, client_kind: str, api_key: str | None,
                 sent: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """``sent`` gives the body parameters an online call sends for a payload."""
        self.config = config
        self.client_kind = client_kind
        self.api_key = api_key
        self.sent = sent
        self.provider = provider_of(config.model)
        self._client: Any = None

    # the request and its answer ---------------------------------------------------------------
    def line(self, payload: dict[str, Any], custom_id: str) -> dict[str, Any]:
        """The JSONL line of one request: the body an online call sends."""
        body = {"model": model_name(self.config.model), **self.sent(payload)}
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    @staticmethod
    def answer(body: Any, turnaround_s: float | None) -> dict[str, Any]:
        """The response an answered line means, as an online call returns it; its latency is the
        batch's turnaround (what a decision made this way waits)."""
        if not isinstance(body, dict) or not body.get("choices"):
            raise CallError("malformed response: empty choices")
        response = normalise_json(body)
        response["latency_s"] = turnaround_s
        return response

    # the provider's calls -----------------------------------------------------------------------
    def _sdk(self) -> Any:
        if self._client is None:
            self._client = sdk_client(self.config, self.api_key)
        return self._client

    @property
    def _litellm(self) -> bool:
        return self.client_kind == "litellm"

    def _litellm_args(self) -> dict[str, Any]:
        config = self.config
        return {"custom_llm_provider": self.provider, "api_base": config.api_base,
                "api_key": self.api_key, "api_version": config.api_version,
                "timeout": config.timeout_s}

    async def _call(self, sdk: Callable[[Any], Any], via_litellm: Callable[[Any], Any]) -> Any:
        """One provider call, its failures as :class:`CallError` s (retryable or fatal as an
        online call's would be); returns the answer as plain data."""
        if self._litellm:
            import litellm

            try:
                result = await via_litellm(litellm)
            except Exception as exc:  # no status: a connection failure, worth another try
                status = getattr(exc, "status_code", None)
                message = f"{type(exc).__name__}: {exc}"
                raise (CallError(message, retryable=True) if status is None
                       else CallError.from_status(status, message, {})) from None
        else:
            with openai_call_errors():
                result = await sdk(self._sdk())
        return result.model_dump() if hasattr(result, "model_dump") else result

    async def upload(self, data: bytes, filename: str) -> str:
        """Upload a JSONL request file; its file id."""
        file = await self._call(
            lambda c: c.files.create(file=(filename, data), purpose="batch"),
            lambda lt: lt.acreate_file(file=(filename, data), purpose="batch",
                                       **self._litellm_args()))
        return str(file["id"])

    async def create(self, input_file_id: str, submission: str, window: str) -> dict[str, Any]:
        metadata = {SUBMISSION_KEY: submission}
        return await self._call(
            lambda c: c.batches.create(input_file_id=input_file_id, endpoint=ENDPOINT,
                                       completion_window=window, metadata=metadata),
            lambda lt: lt.acreate_batch(input_file_id=input_file_id, endpoint=ENDPOINT,
                                        completion_window=window, metadata=metadata,
                                        **self._litellm_args()))

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._call(lambda c: c.batches.retrieve(batch_id),
                                lambda lt: lt.aretrieve_batch(batch_id=batch_id,
                                                              **self._litellm_args()))

    async def find(self, submission: str) -> dict[str, Any] | None:
        """The batch created for ``submission``, among the account's newest ``FIND_DEPTH``."""
        after: str | None = None
        seen = 0
        while seen < FIND_DEPTH:
            page = await self._call(
                lambda c: c.batches.list(limit=100, **({"after": after} if after else {})),
                lambda lt: lt.alist_batches(limit=100, after=after, **self._litellm_args()))
            batches = page.get("data") or []
            for batch in batches:
                if (batch.get("metadata") or {}).get(SUBMISSION_KEY) == submission:
                    return batch
            seen += len(batches)
            if not batches or not page.get("has_more"):
                return None
            after = batches[-1]["id"]
        return None

    async def content(self, file_id: str) -> str:
        """The text of an output or error file."""
        if self._litellm:
            import litellm

            try:
                result = await litellm.afile_content(file_id=file_id, **self._litellm_args())
            except Exception as exc:
                raise CallError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        else:
            with openai_call_errors():
                result = await self._sdk().files.content(file_id)
        text = getattr(result, "text", result)
        return text if isinstance(text, str) else bytes(text).decode("utf-8")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
