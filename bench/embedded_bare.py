"""The bare llama-cpp-python loop of bench/embedded.py, run as its own process.

It imports llama_cpp and numpy only (nothing of evalharness), reads a JSON job (model path,
n_ctx, threads, labels and the chat messages of every prompt, in order), scores each prompt the
way the embedded decider does (the prompt evaluated once, reusing the longest token prefix shared
with the previous prompt, then each label's tokens scored as the answer; probabilities normalised
over the labels) and prints one JSON line: load time, per-item timestamps and each item's scores
and token counts. ``reuse: false`` evaluates every prompt from scratch (to show what reuse saves).
"""

from __future__ import annotations

import json
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


def _last_logits(llm: Llama) -> np.ndarray:
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()


def main() -> int:
    job = json.loads(open(sys.argv[1], encoding="utf-8").read())
    start = time.perf_counter()
    llm = Llama(model_path=job["model_path"], n_ctx=job["n_ctx"], n_threads=job["threads"],
                logits_all=False, verbose=False)
    template = Jinja2ChatFormatter(
        llm.metadata["tokenizer.chat_template"],
        eos_token=llm.detokenize([llm.token_eos()], special=True).decode(errors="replace"),
        bos_token=llm.detokenize([llm.token_bos()], special=True).decode(errors="replace"),
        add_generation_prompt=True,
    )
    label_tokens = {name: llm.tokenize(name.encode(), add_bos=False, special=False)
                    for name in job["labels"]}
    load_s = time.perf_counter() - start
    previous: list[int] = []
    stamps, cpu, results = [], [], []
    loop_start = time.perf_counter()
    for messages in job["prompts"]:
        tokens = llm.tokenize(template(messages=messages).prompt.encode(), add_bos=False,
                              special=True)
        if len(tokens) > job["n_ctx"] - 16:
            raise SystemExit("a prompt does not fit n_ctx; the bench uses short items")
        shared = 0
        if job["reuse"]:
            limit = min(len(previous), len(tokens) - 1)
            while shared < limit and previous[shared] == tokens[shared]:
                shared += 1
        llm.n_tokens = shared
        llm.eval(tokens[shared:])
        prompt_len = llm.n_tokens
        first = _log_softmax(_last_logits(llm))
        logprobs = []
        for name in job["labels"]:
            ids = label_tokens[name]
            total = float(first[ids[0]])
            for j in range(1, len(ids)):
                llm.n_tokens = prompt_len + j - 1
                llm.eval([ids[j - 1]])
                total += float(_log_softmax(_last_logits(llm))[ids[j]])
            logprobs.append(total)
        llm.n_tokens = prompt_len
        previous = tokens
        values = np.array(logprobs)
        probs = np.exp(values - values.max())
        probs /= probs.sum()
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
        results.append({"scores": dict(zip(job["labels"], probs.tolist())),
                        "prompt_tokens": len(tokens), "cached_tokens": shared})
    llm.close()
    print(json.dumps({"load_s": load_s, "loop_start": loop_start, "stamps": stamps, "cpu": cpu,
                      "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
