"""An llm decider's model name as its provider knows it, and its openai SDK client (Azure
OpenAI, or any OpenAI-compatible base URL): one place for the online path's Azure calls and the
batch API's files and batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .llm_options import LlmDeciderConfig

__all__ = ["model_name", "provider_of", "sdk_client"]


def provider_of(model: str) -> str:
    """``openai/gpt-4o-mini`` → ``openai``; a bare name is OpenAI's."""
    return model.split("/", 1)[0] if "/" in model else "openai"


def model_name(model: str) -> str:
    """``openai/gpt-4o-mini`` → ``gpt-4o-mini``: the name sent in a request body."""
    return model.split("/", 1)[1] if "/" in model else model


def sdk_client(config: LlmDeciderConfig, api_key: str | None) -> Any:
    """An async openai SDK client for ``config``'s endpoint, retries left to the caller's call
    policy. Without a key the SDK reads OPENAI_API_KEY / AZURE_OPENAI_API_KEY itself."""
    import openai

    kwargs: dict[str, Any] = {"api_key": api_key, "timeout": config.timeout_s, "max_retries": 0}
    if provider_of(config.model) == "azure":
        return openai.AsyncAzureOpenAI(azure_endpoint=config.api_base,
                                       api_version=config.api_version, **kwargs)
    return openai.AsyncOpenAI(base_url=config.api_base, **kwargs)
