"""The compression experiment's speed benchmark on the real bundled model (1 thread, a few seconds).

The whole `experiment compression` on a real merged model (export, quantize, benchmark, perplexity and
one tau episode per variant) takes 2-3 minutes on this 2-core machine even at its smallest settings,
mostly the agent's episode; it is not a test here. This checks the one piece that drives llama.cpp
directly: the same prompt ids for every variant of one base, exactly N decoded tokens, sane speeds.
"""
from __future__ import annotations

from agentspec.experiments._bench import _prompt, benchmark
from agentspec.runtime.llamacpp import LlamaCppChatModel


def test_benchmark_measures_a_fixed_workload(real_home_session):
    q8 = benchmark("smollm2-135m", threads=1, prompt_tokens=48, decode_tokens=6, repeats=2)
    q4 = benchmark("smollm2-135m-q4_1", threads=1, prompt_tokens=48, decode_tokens=6, repeats=1)
    for result in (q8, q4):
        assert result["prompt_tokens"] == 48 and result["decode_tokens"] == 6 and result["threads"] == 1
        assert 0 < result["decode_tokens_per_s"] < result["prompt_tokens_per_s"]  # batched prompt is faster
    assert len(q8["runs"]) == 2
    a = LlamaCppChatModel("smollm2-135m", n_ctx=256, n_threads=1)
    b = LlamaCppChatModel("smollm2-135m-q4_1", n_ctx=256, n_threads=1)
    assert _prompt(a, 48) == _prompt(b, 48)  # every quantization of one base gets the same ids
