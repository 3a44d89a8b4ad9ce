"""A short, fixed speed benchmark of one GGUF model with agentspec's llama.cpp runtime.

``benchmark(path, threads=1, prompt_tokens=512, decode_tokens=64, repeats=3) -> dict``:

1. The model loads as the agent loads it (``LlamaCppChatModel``: its chat template, ``n_threads``).
2. The prompt is a fixed retail-policy-like text rendered with the chat template and cut to exactly
   ``prompt_tokens`` tokens, so every variant of one base model (same tokenizer) gets the same ids.
3. Each repeat empties the KV cache, evaluates the prompt as one batch (prompt tokens/s = tokens /
   seconds), then decodes exactly ``decode_tokens`` greedy tokens one at a time, whatever they are
   (an end-of-text token does not stop it: every variant does the same work; decode tokens/s).
4. The median over ``repeats`` is reported (after one short untimed warm-up), with each repeat's numbers.

Speeds depend on the machine, its load and the threads: compare variants measured in one run with
the same ``threads``. Not here: quality (perplexity, pass^1), sampling settings.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

__all__ = ["benchmark", "BENCH_TEXT"]

BENCH_TEXT = ("You are a customer service agent for an online retail shop. Authenticate the user by email, "
              "or by name and zip code, before you look at any order. List the details of every change and "
              "obtain an explicit yes before you cancel, modify, return or exchange anything. Refunds go to "
              "the original payment method or a gift card. Never share another customer's data. ")


def _prompt(model: Any, n: int) -> list[int]:
    system = BENCH_TEXT * (n // 40 + 2)  # ~70 tokens per copy: always longer than n once rendered
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": "Hi, I want to return the lamp from my last order."}]
    tokens = model.prompt_tokens(messages)
    if len(tokens) < n:
        raise ValueError(f"benchmark prompt has only {len(tokens)} tokens, {n} asked")
    return tokens[:n]


def benchmark(path: str | Path, *, threads: int | None = 1, prompt_tokens: int = 512, decode_tokens: int = 64,
              repeats: int = 3) -> dict[str, Any]:
    """Prompt and decode tokens/s of the GGUF at ``path`` (see the module docstring)."""
    import llama_cpp
    import numpy as np

    from agentspec.runtime.llamacpp import LlamaCppChatModel

    model = LlamaCppChatModel(str(path), n_ctx=prompt_tokens + decode_tokens + 16, n_threads=threads, seed=0)
    llm = model.llm
    tokens = _prompt(model, prompt_tokens)
    n_vocab = llm.n_vocab()

    def run(n_prompt: int, n_decode: int) -> tuple[float, float]:
        llm.reset()
        llm._ctx.kv_cache_clear()
        started = time.perf_counter()
        llm.eval(tokens[:n_prompt])  # one batch when n_prompt <= n_batch (512)
        prompt_s = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(n_decode):
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            llm.eval([int(row.argmax())])
        return prompt_s, time.perf_counter() - started

    try:
        run(min(16, prompt_tokens), 2)  # warm-up: first-touch of the weights, thread pool start
        runs = [run(prompt_tokens, decode_tokens) for _ in range(max(1, repeats))]
    finally:
        llm.reset()
        del model, llm
    prompt_tps = [prompt_tokens / p for p, _ in runs]
    decode_tps = [decode_tokens / d for _, d in runs]
    return {"prompt_tokens_per_s": round(statistics.median(prompt_tps), 2),
            "decode_tokens_per_s": round(statistics.median(decode_tps), 2),
            "prompt_tokens": prompt_tokens, "decode_tokens": decode_tokens, "repeats": len(runs),
            "threads": threads, "runs": [{"prompt_tokens_per_s": round(p, 2), "decode_tokens_per_s": round(d, 2)}
                                         for p, d in zip(prompt_tps, decode_tps)]}
