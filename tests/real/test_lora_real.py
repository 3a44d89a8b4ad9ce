"""LoRA on the real SmolLM2-135M: train a few steps, export, apply in llama.cpp, switch adapters.

Tolerances (measured on this machine, see the closing figures in the assertion messages):
- adapter applied by llama.cpp on the Q4_1 base vs the merged model exported as F16 GGUF: the same
  weights up to F16 rounding, but llama.cpp multiplies Q4_1 weights with Q8-quantized activations and
  F16 weights with F16 ones -> measured correlation 0.9987-0.9990, max |diff| 0.75-0.85 of logits ~20;
  asserted: correlation > 0.995 and the same greedy next token unless the two best are within that
  error (once the top two were 0.7 apart and the two paths picked different ones); Q8_0 merged:
  correlation > 0.99;
- llama.cpp with the adapter vs transformers + peft on the dequantized base (fp32): different kernels
  and the Q8 activations of llama.cpp's CPU path -> correlation > 0.99. A missing q/k permutation of
  LoRA B gives ~0.86 here, which is what this guards;
- the adapter changes outputs: max |logit diff| to the base > 1 (two loads of the base differ by 0).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fast" / "train"))
from tiny_lora_fixtures import write_dialogues  # noqa: E402

from agentspec.runtime.base import GenerationSettings  # noqa: E402

PROMPTS = [
    [{"role": "user", "content": "I want to return the lamp I got"}],
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "cancel my order with the tent"}],
    [{"role": "user", "content": "What is the capital of France?"}],
]
GREEDY = GenerationSettings(max_tokens=24, temperature=0.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, real_home_session):
    from agentspec.train.export import export_adapter, export_merged
    from agentspec.train.lora import LoraSettings, train_lora

    root = tmp_path_factory.mktemp("lora")
    data = write_dialogues(root / "data", n_train=16, n_valid=4)
    summary = train_lora(LoraSettings(data=str(data), out=str(root / "run"), steps=6, batch=4, lr=3e-3,
                                      checkpoint_every=3, eval_every=0, max_len=512, seed=0, threads=1), quiet=True)
    adapter = export_adapter(root / "run", root / "export")
    merged = export_merged(root / "run", root / "export", quants=["Q8_0"])
    return {"summary": summary, "adapter": adapter, "merged": merged, "run": root / "run"}


def last_logits(model, messages) -> np.ndarray:
    tokens = model.prompt_tokens(messages)
    import llama_cpp

    model.llm.reset()
    model.llm.eval(tokens)  # without logits_all, llama-cpp-python keeps no scores: read llama.cpp's own
    row = llama_cpp.llama_get_logits_ith(model.llm.ctx, -1)
    return np.ctypeslib.as_array(row, shape=(model.llm.n_vocab(),)).astype(np.float64)


def corr(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def with_adapter(exported):
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel(n_ctx=1024, seed=0, n_threads=1, adapters=[{"name": "retail", "path": str(exported["adapter"])}])


def test_training_learned_something(exported):
    s = exported["summary"]
    assert s["steps"] == 6 and s["sequences"] == 16 and s["valid_loss"] is not None
    assert s["train_loss_last"] < 3.0, s  # the toy targets are short JSON, quickly learned


def test_adapter_in_llama_cpp_matches_the_merged_model(exported, with_adapter):
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    merged = LlamaCppChatModel(str(exported["merged"]["F16"]), n_ctx=1024, seed=0)
    for messages in PROMPTS:
        a, m = last_logits(with_adapter, messages), last_logits(merged, messages)
        assert corr(a, m) > 0.995, (corr(a, m), np.abs(a - m).max())
        # Each one's greedy token is (within the measured error) a best token of the other.
        assert a[m.argmax()] > a.max() - 1.0 and m[a.argmax()] > m.max() - 1.0, (a.argmax(), m.argmax())
    q8 = LlamaCppChatModel(str(exported["merged"]["Q8_0"]), n_ctx=1024, seed=0)
    a, q = last_logits(with_adapter, PROMPTS[0]), last_logits(q8, PROMPTS[0])
    assert corr(a, q) > 0.99, corr(a, q)


def test_adapter_in_llama_cpp_matches_transformers_peft(exported, with_adapter):
    import torch
    from peft import PeftModel

    from agentspec.runtime.models import resolve_model
    from agentspec.runtime.transformers import load_hf

    torch.set_num_threads(1)  # 2 OpenMP threads on 2 shared cores measured ~8x slower than 1
    base, _ = load_hf(resolve_model(None)[0], "cpu", torch.float32)
    model = PeftModel.from_pretrained(base, str(exported["run"] / "adapter")).eval()
    for messages in PROMPTS:
        ids = with_adapter.prompt_tokens(messages)
        with torch.no_grad():
            hf = model(input_ids=torch.tensor([ids])).logits[0, -1].double().numpy()
        ll = last_logits(with_adapter, messages)
        assert corr(hf, ll) > 0.99, corr(hf, ll)


def test_adapter_changes_the_outputs(with_adapter, llama_model):
    for messages in PROMPTS[:2]:
        with_adapter.set_adapter("retail")
        a = last_logits(with_adapter, messages)
        with_adapter.set_adapter(None)
        off = last_logits(with_adapter, messages)
        base = last_logits(llama_model, messages)
        assert np.abs(off - base).max() == 0  # no adapter == the plain model, exactly
        assert np.abs(a - base).max() > 1.0, np.abs(a - base).max()
    with_adapter.set_adapter("retail")


def test_switching_without_reload_equals_loading_that_adapter_alone(exported, with_adapter, llama_model):
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    path = str(exported["adapter"])
    with_adapter.set_adapter("retail")
    both = LlamaCppChatModel(n_ctx=1024, seed=0, n_threads=1, adapters=[{"name": "strong", "path": path, "scale": 2.0},
                                                           {"name": "retail", "path": path}])
    assert both.active_adapter == "strong" and both.adapter_names == ["strong", "retail"]
    strong_first = both.complete(PROMPTS[0], GREEDY).text
    both.set_adapter("retail")
    switched = both.complete(PROMPTS[0], GREEDY).text
    alone = with_adapter.complete(PROMPTS[0], GREEDY).text
    assert switched == alone
    assert np.array_equal(last_logits(both, PROMPTS[1]), last_logits(with_adapter, PROMPTS[1]))
    both.set_adapter(None)
    assert both.complete(PROMPTS[0], GREEDY).text == llama_model.complete(PROMPTS[0], GREEDY).text
    both.set_adapter("strong")
    assert both.complete(PROMPTS[0], GREEDY).text == strong_first  # KV cache of the other adapter not reused
