"""The ``llm`` decider kind: the factory that picks the embedded llama.cpp model (``model:
embedded``) or a chat-completions endpoint (any other model) for its options
(:mod:`.llm_options`). The implementations are imported only when a config uses them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..records.errors import DeciderError
from .llm_options import LlmDeciderConfig
from .registry import decider

if TYPE_CHECKING:
    from ..inputs.config import RunConfig
    from .base import Decider

__all__ = ["LlmDeciderConfig"]


@decider("llm", options=LlmDeciderConfig)
def _make(config: LlmDeciderConfig, run_config: RunConfig) -> list[Decider]:
    if config.bundle is not None:
        return [_bundled(config, run_config)]
    if config.embedded:
        from .embedded import EmbeddedLlm as cls
    else:
        from .chat import ChatLlm as cls  # type: ignore[assignment]
    names = run_config.decider_names(config)
    return [cls(config, run_config, variant=variant, name=name)
            for variant, name in zip(config.prompt_variants, names)]


def _bundled(config: LlmDeciderConfig, run_config: RunConfig) -> Decider:
    from .bundled import BundledChatLlm, BundledEmbeddedLlm

    if config.bundle not in run_config.bundles:
        known = sorted(run_config.bundles)
        raise DeciderError(f"no bundle {config.bundle!r} in the config's bundles: {known}",
                           field=f"deciders.{config.name}.bundle",
                           fix="add it under bundles: (a name and its policies)"
                               + (f", or use one of {known}" if known else ""))
    cls = BundledEmbeddedLlm if config.embedded else BundledChatLlm
    made = cls(config, run_config)
    made.bundle_user = run_config.bundles[config.bundle].user
    return made
