"""Perplexity with the real bundled model (1 thread, seeded): it ranks text sensibly and is exact."""
from __future__ import annotations

import random

import numpy as np
import pytest

from agentspec.evals.perplexity import load_scorer, perplexity
from agentspec.runtime.base import GenerationSettings

TEXT = ("Thank you for contacting our store. Your order was shipped this morning and should arrive within "
        "three to five business days. If any item is damaged when it arrives, you can return it for a full "
        "refund to the original payment method. Please keep the tracking number from your confirmation "
        "email, and let us know if there is anything else we can help you with today.")


@pytest.fixture(scope="module")
def scorer(real_home_session):
    return load_scorer(model="smollm2-135m", threads=1, n_ctx=512)


def _mean(values) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def test_natural_text_is_far_likelier_than_its_tokens_shuffled(scorer):
    tokens = scorer.tokenize(TEXT)
    shuffled = tokens[1:]
    random.Random(0).shuffle(shuffled)
    natural, scrambled = _mean(scorer.nll(tokens, 1)), _mean(scorer.nll(tokens[:1] + shuffled, 1))
    assert len(tokens) > 60
    assert natural < 3.5 and scrambled > natural + 3.0  # nats/token: ppl < 33 against > 20x that


def test_results_are_deterministic_and_windows_score_the_same_tokens(scorer):
    first = perplexity([TEXT, TEXT.upper()], scorer)
    again = perplexity([TEXT, TEXT.upper()], scorer)
    assert (first.mean_nll, first.tokens) == (again.mean_nll, again.tokens)  # exactly
    windowed = perplexity([TEXT, TEXT.upper()], scorer, window=32, stride=16)
    assert windowed.tokens == first.tokens and windowed.mean_nll == perplexity(
        [TEXT, TEXT.upper()], scorer, window=32, stride=16).mean_nll
    assert windowed.mean_nll > first.mean_nll - 0.05  # less context cannot help much
    assert 1.0 < first.perplexity < 100.0


def test_nlls_equal_llama_cpp_pythons_own_logits(scorer):
    import llama_cpp

    tokens = scorer.tokenize(TEXT)
    ours = np.asarray(scorer.nll(tokens, 1))
    llm = llama_cpp.Llama(model_path=str(scorer.model.path), n_ctx=512, n_threads=1, n_threads_batch=1,
                          logits_all=True, verbose=False)
    llm.eval(tokens)
    logits = llm.scores[:len(tokens) - 1].astype(np.float64)  # row i predicts token i + 1
    top = logits.max(axis=1)
    reference = top + np.log(np.exp(logits - top[:, None]).sum(axis=1)) - logits[np.arange(len(logits)), tokens[1:]]
    assert np.abs(ours - reference).max() < 1e-3
    partial = np.asarray(scorer.nll(tokens, 20))  # rows before the first target are not computed
    assert np.array_equal(partial, ours[19:])


def test_scoring_leaves_the_chat_model_as_it_was(scorer):
    messages = [{"role": "user", "content": "Where is my order?"}]
    greedy = GenerationSettings(max_tokens=8, temperature=0.0)
    before = scorer.model.complete(messages, greedy).text
    perplexity([TEXT], scorer)
    assert scorer.model.complete(messages, greedy).text == before


def _noise_adapter(path, layers: int = 4, rank: int = 4) -> None:
    """A random LoRA on the first layers' attn_q of SmolLM2 (576 wide), in the exporter's GGUF layout."""
    import gguf

    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("adapter")
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    for layer in range(layers):
        writer.add_tensor(f"blk.{layer}.attn_q.weight.lora_a", rng.normal(0, 0.1, (rank, 576)).astype(np.float32))
        writer.add_tensor(f"blk.{layer}.attn_q.weight.lora_b", rng.normal(0, 0.1, (576, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_spec_is_measured_with_its_adapter(tmp_path, scorer):
    _noise_adapter(tmp_path / "noise.gguf")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: t\nmodel: {name: smollm2-135m, n_ctx: 512, threads: 1}\ntoolkits: [{name: retail}]\n"
                    "adapters: [{name: noise, path: noise.gguf}]\nprompts: {system: retail_expert.j2}\n"
                    "messages: {stopped: Say it again please.}\n")
    specialized = load_scorer(spec=str(spec))
    assert specialized.adapter == "noise" and specialized.context_length == 512
    with_adapter = perplexity([TEXT], specialized)
    specialized.model.set_adapter(None)
    base = perplexity([TEXT], specialized)
    assert base.mean_nll == perplexity([TEXT], scorer).mean_nll  # the plain model, exactly
    assert abs(with_adapter.mean_nll - base.mean_nll) > 1e-3, (with_adapter.mean_nll, base.mean_nll)
    assert (with_adapter.adapter, base.adapter) == ("noise", None)
