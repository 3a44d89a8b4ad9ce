import pytest

from agentspec.errors import ModelFileError
from agentspec.runtime.base import GenerationSettings
from tests.real.conftest import GREEDY, SAMPLED

MSGS = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Name three colours of the rainbow."},
]


def test_streamed_equals_non_streamed(llama_model):
    # Same KV-cache state for both (a reused prefix changes float rounding, which can flip a sampled
    # token at temperature > 0; greedy decoding is unaffected, see the cached-turn test).
    for settings in (GREEDY, SAMPLED):
        llama_model.llm.reset()
        streamed = "".join(llama_model.stream(MSGS, settings))
        llama_model.llm.reset()
        complete = llama_model.complete(MSGS, settings)
        assert streamed == complete.text
        assert complete.text.strip()
        assert complete.usage.completion_tokens > 0


def test_seeded_sampling_is_repeatable_and_seed_matters(llama_model):
    llama_model.llm.reset()
    a = llama_model.complete(MSGS, SAMPLED).text
    llama_model.llm.reset()
    b = llama_model.complete(MSGS, SAMPLED).text
    others = {llama_model.complete(MSGS, SAMPLED.with_(seed=s)).text for s in (1, 2, 3)}
    assert a == b
    assert len(others | {a}) > 1


def test_cached_second_turn_equals_fresh_computation(llama_model):
    llama_model.llm.reset()
    first = llama_model.complete(MSGS, GREEDY)
    turn2 = MSGS + [
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Now name one more."},
    ]
    warm = llama_model.complete(turn2, GREEDY)
    # Turn 2 reused the whole of turn 1 (its prompt and the reply) from the KV cache.
    assert warm.usage.cached_tokens >= first.usage.prompt_tokens
    llama_model.llm.reset()  # forget the KV cache: a fresh computation of the same prompt
    fresh = llama_model.complete(turn2, GREEDY)
    assert fresh.usage.cached_tokens == 0
    assert warm.text == fresh.text


def test_conversation_longer_than_context_drops_oldest_turns():
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    model = LlamaCppChatModel(n_ctx=512, seed=0)
    msgs = [{"role": "system", "content": "You are terse."}]
    for i in range(30):
        msgs += [{"role": "user", "content": f"Tell me fact number {i} about the sea, please."},
                 {"role": "assistant", "content": f"Fact {i}: the sea is large and salty and deep."}]
    msgs.append({"role": "user", "content": "Thanks, bye."})
    c = model.complete(msgs, GenerationSettings(max_tokens=16, temperature=0.0))
    assert c.dropped_messages > 0
    assert c.usage.prompt_tokens + 16 <= 512


def test_corrupt_gguf_is_a_clear_error(tmp_path):
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    bad = tmp_path / "half.gguf"
    from agentspec.runtime.models import resolve_model

    real, _ = resolve_model("smollm2-135m")
    bad.write_bytes(real.read_bytes()[: 4 * 2**20])  # valid header, tensor data cut off
    with pytest.raises(ModelFileError):
        LlamaCppChatModel(bad)


def test_models_metadata():
    from agentspec.runtime.models import inspect_gguf, resolve_model

    path, _ = resolve_model("smollm2-135m-q4_1")
    info = inspect_gguf(path)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.chat_template
    q8, _ = resolve_model("smollm2-135m")
    assert inspect_gguf(q8).quantization == "Q8_0"
