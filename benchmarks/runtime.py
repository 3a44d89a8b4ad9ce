"""Runtime benchmark: agentspec's llama.cpp backend against raw llama-cpp-python, side by side.

Same model file, same prompt, same thread count, same greedy settings, in one run. Prints context
lines, then as its LAST line one JSON object:

- decode_ratio     tokens/s of agentspec ÷ tokens/s of raw llama-cpp-python (goal >= 0.95)
- warm_ttft_ratio  time to first token of turn 2 ÷ cold time to first token, with a ~1,500-token
                   system prompt (goal <= 0.25): what prefix KV-cache reuse buys
- peak_rss_mb      peak resident memory of a one-shot `agentspec ask` process (goal < 400)
- q8_vs_q4_prefill / q8_vs_q4_decode: the default Q8_0 re-quantization against the shipped Q4_1
- cache_mismatch_q4 / cache_mismatch_q8: of N two-turn greedy conversations, how many give a different
  turn-2 reply when served from the KV cache than when computed fresh (0 expected for both)

Usage: python benchmarks/runtime.py [--threads N] [--repeats R] [--tokens T] [--smoke]

--smoke: one repeat of 16 tokens and two cache-check conversations (seconds, not figures): what CI
runs so the benchmark cannot rot.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from agentspec.runtime.base import GenerationSettings
from agentspec.runtime.llamacpp import LlamaCppChatModel

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."},
]

POLICY_LINE = ("Agents must verify the customer's identity, list the action details and obtain an explicit "
               "yes before any change, and never share another customer's data. ")


def raw_decode_tps(llm, tokens: list[int], n: int) -> float:
    """Raw llama-cpp-python: stream n greedy tokens, decode speed after the first token."""
    llm.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for _ in llm.create_completion(prompt=tokens, max_tokens=n, temperature=0.0, stream=True):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return (count - 1) / (end - first)


def ours_decode_tps(model: LlamaCppChatModel, n: int) -> float:
    model.llm.reset()
    c = model.complete(PROMPT, GenerationSettings(max_tokens=n, temperature=0.0))
    return c.timings.decode_tokens_per_s(c.usage.completion_tokens)


def warm_ttft(model: LlamaCppChatModel) -> tuple[float, float, int]:
    system = POLICY_LINE * 51
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": "Hi, I need help with an order."}]
    model.llm.reset()
    s = GenerationSettings(max_tokens=24, temperature=0.0)
    cold = model.complete(msgs, s)
    msgs += [{"role": "assistant", "content": cold.text}, {"role": "user", "content": "It is order #W1234567."}]
    warm = model.complete(msgs, s)
    return cold.timings.ttft_s, warm.timings.ttft_s, cold.usage.prompt_tokens


def prefill_decode(model: LlamaCppChatModel) -> tuple[float, float]:
    msgs = [{"role": "system", "content": POLICY_LINE * 51}, PROMPT[1]]
    model.llm.reset()
    c = model.complete(msgs, GenerationSettings(max_tokens=64, temperature=0.0))
    return c.usage.prompt_tokens / c.timings.ttft_s, c.timings.decode_tokens_per_s(c.usage.completion_tokens)


CONVERSATIONS = [
    "Name three colours of the rainbow.", "What is the capital of France?", "Write a haiku about tea.",
    "How do I cancel my order?", "Explain gravity briefly.", "What is a good name for a cat?",
    "Give me a tip for sleeping well.", "What does a lighthouse do?", "Describe the moon.",
    "How do I return a pair of shoes?", "What is two plus two?", "Why is the sky blue?",
]


def cache_mismatches(model: LlamaCppChatModel, conversations: list[str]) -> int:
    """Two-turn greedy conversations whose cached turn 2 differs from a fresh computation."""
    s = GenerationSettings(max_tokens=40, temperature=0.0)
    bad = 0
    for question in conversations:
        msgs = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": question}]
        model.llm.reset()
        first = model.complete(msgs, s)
        turn2 = msgs + [{"role": "assistant", "content": first.text}, {"role": "user", "content": "Tell me more."}]
        warm = model.complete(turn2, s)
        model.llm.reset()
        bad += warm.text != model.complete(turn2, s).text
    return bad


def ask_peak_rss_mb() -> float:
    """Peak RSS of that one process (os.wait4's rusage is the child's own, not all children's)."""
    proc = subprocess.Popen([sys.executable, "-m", "agentspec.cli", "ask", "Say hi.", "--max-tokens", "16", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"`agentspec ask` failed with status {status}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--smoke", action="store_true", help="one short repeat of everything (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.repeats, args.tokens = 1, 16

    # First, while this process is small: a child's ru_maxrss counts the parent's pages at fork.
    rss = ask_peak_rss_mb()
    model = LlamaCppChatModel("smollm2-135m", n_ctx=4096, n_threads=args.threads, seed=0)
    tokens = model.prompt_tokens(PROMPT)
    ours, raw = [], []
    # Alternate the two so drift in machine load affects both equally.
    for _ in range(args.repeats):
        raw.append(raw_decode_tps(model.llm, tokens, args.tokens))
        ours.append(ours_decode_tps(model, args.tokens))
    decode_ratio = statistics.median(ours) / statistics.median(raw)
    print(f"decode tokens/s: agentspec {statistics.median(ours):.1f}, raw llama-cpp-python "
          f"{statistics.median(raw):.1f} (median of {args.repeats}, {args.threads} threads, {model.name})")

    rounds = 1 if args.smoke else 3
    conversations = CONVERSATIONS[:2] if args.smoke else CONVERSATIONS
    ttfts = [warm_ttft(model) for _ in range(rounds)]
    cold = statistics.median(t[0] for t in ttfts)
    warm = statistics.median(t[1] for t in ttfts)
    print(f"time to first token: cold {cold * 1000:.0f} ms, warm turn 2 {warm * 1000:.0f} ms "
          f"(system prompt {ttfts[0][2]} tokens)")

    q4 = LlamaCppChatModel("smollm2-135m-q4_1", n_ctx=4096, n_threads=args.threads, seed=0)
    q8_pd = [prefill_decode(model) for _ in range(rounds)]
    q4_pd = [prefill_decode(q4) for _ in range(rounds)]
    q8_prefill, q8_decode = (statistics.median(x[i] for x in q8_pd) for i in (0, 1))
    q4_prefill, q4_decode = (statistics.median(x[i] for x in q4_pd) for i in (0, 1))
    print(f"Q8_0: prefill {q8_prefill:.0f} tok/s, decode {q8_decode:.1f} tok/s; "
          f"Q4_1: prefill {q4_prefill:.0f} tok/s, decode {q4_decode:.1f} tok/s")
    mismatch_q4, mismatch_q8 = cache_mismatches(q4, conversations), cache_mismatches(model, conversations)
    print(f"cached turn != fresh turn (greedy, {len(conversations)} conversations): "
          f"Q4_1 {mismatch_q4}, Q8_0 {mismatch_q8}")
    del q4, model

    print(f"peak RSS of one-shot `agentspec ask`: {rss:.0f} MB")
    print(json.dumps({
        "decode_ratio": round(decode_ratio, 3),
        "warm_ttft_ratio": round(warm / cold, 3),
        "peak_rss_mb": round(rss, 1),
        "decode_tps": round(statistics.median(ours), 1),
        "raw_decode_tps": round(statistics.median(raw), 1),
        "cold_ttft_ms": round(cold * 1000, 1),
        "warm_ttft_ms": round(warm * 1000, 1),
        "q8_vs_q4_prefill": round(q8_prefill / q4_prefill, 2),
        "q8_vs_q4_decode": round(q8_decode / q4_decode, 2) if q4_decode else None,
        "cache_mismatch_q4": mismatch_q4,
        "cache_mismatch_q8": mismatch_q8,
        "conversations": len(conversations),
        "threads": args.threads,
        "smoke": args.smoke,
    }))


if __name__ == "__main__":
    main()
