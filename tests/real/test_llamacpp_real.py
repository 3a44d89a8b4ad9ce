import numpy as np
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


# -- token accounting with multi-byte characters ---------------------------------------------------
# llama-cpp-python streams the tokens of one multi-byte character (CJK, emoji) as one chunk; counting
# chunks reported e.g. 7 tokens and "stop" for a Chinese reply cut at max_tokens=12.


@pytest.fixture(scope="module")
def llama_1t(real_home_session):
    from agentspec.runtime.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel(n_ctx=1024, n_threads=1, seed=0)


class Counting:
    """A logits processor that only counts: llama.cpp calls it once before sampling each token."""

    def __init__(self):
        self.calls = 0

    def __call__(self, input_ids, scores):
        self.calls += 1
        return scores


class Forcing:
    """Forces the tokens of ``text`` in order, then end of generation."""

    def __init__(self, model, text):
        self.ids = model.llm.tokenize(text.encode(), add_bos=False, special=False)
        self.eos = model.llm.token_eos()
        self.prompt_len = None

    def __call__(self, input_ids, scores):
        if self.prompt_len is None:
            self.prompt_len = len(input_ids)
        i = len(input_ids) - self.prompt_len
        target = self.ids[i] if i < len(self.ids) else self.eos
        scores[:] = -np.inf
        scores[target] = 0.0
        return scores


FORCED = "猫是动物🍕 ok"  # 12 tokens; 猫 is 3 of them, 动, 物 and 🍕 are split too


def test_forced_multibyte_reply_counts_every_token(llama_1t):
    msgs = [{"role": "user", "content": "Say something."}]
    n = len(Forcing(llama_1t, FORCED).ids)
    assert n > len(FORCED)  # more tokens than characters: counting pieces of text under-counts
    whole = llama_1t.complete(msgs, GenerationSettings(max_tokens=n + 5), logits_processor=[Forcing(llama_1t, FORCED)])
    assert whole.text == FORCED
    assert (whole.usage.completion_tokens, whole.finish_reason) == (n, "stop")
    # Exactly max_tokens: cut, although the next token would have been the end.
    at = llama_1t.complete(msgs, GenerationSettings(max_tokens=n), logits_processor=[Forcing(llama_1t, FORCED)])
    assert (at.text, at.usage.completion_tokens, at.finish_reason) == (FORCED, n, "length")
    for cut in range(1, n):
        settings = GenerationSettings(max_tokens=cut)
        stream = llama_1t.stream(msgs, settings, logits_processor=[Forcing(llama_1t, FORCED)])
        deltas = list(stream)
        c = stream.completion
        assert (c.usage.completion_tokens, c.finish_reason, len(deltas)) == (cut, "length", cut)
        # The reply is the decoded prefix of the forced tokens, less the bytes of a cut character.
        prefix = llama_1t.llm.detokenize(Forcing(llama_1t, FORCED).ids[:cut]).decode("utf-8", errors="ignore")
        assert c.text == "".join(deltas) == prefix
    # Cut mid-character (2 of the 3 tokens of 猫), then again with the prompt's KV reused.
    twice = [llama_1t.complete(msgs, GenerationSettings(max_tokens=2), logits_processor=[Forcing(llama_1t, FORCED)])
             for _ in range(2)]
    assert twice[1].usage.cached_tokens > 0
    assert [(c.text, c.usage.completion_tokens, c.finish_reason) for c in twice] == [("", 2, "length")] * 2


def test_forced_multibyte_reply_with_stop_string(llama_1t):
    msgs = [{"role": "user", "content": "Say something."}]
    n = len(Forcing(llama_1t, FORCED).ids)
    c = llama_1t.complete(msgs, GenerationSettings(max_tokens=n + 5, stop=("🍕",)),
                          logits_processor=[Forcing(llama_1t, FORCED)])
    assert c.text == "猫是动物" and c.finish_reason == "stop"
    upto = len(llama_1t.llm.tokenize("猫是动物🍕".encode(), add_bos=False, special=False))
    assert c.usage.completion_tokens == upto  # the tokens of the stop string were sampled: they count


@pytest.mark.parametrize("prompt,settings", [
    ("用中文写一首关于猫的诗。", GREEDY.with_(max_tokens=12)),
    ("用中文写一首关于猫的诗。", SAMPLED.with_(max_tokens=12)),
    ("Write a line of emojis about pizza 🍕🍕🍕", GREEDY.with_(max_tokens=12)),
    ("Name three colours of the rainbow.", GREEDY.with_(max_tokens=12)),
    ("Say hello.", GREEDY.with_(max_tokens=60)),  # ends by itself
])
def test_model_replies_count_sampled_tokens(llama_1t, prompt, settings):
    msgs = [{"role": "user", "content": prompt}]
    counter = Counting()
    llama_1t.llm.reset()
    c = llama_1t.complete(msgs, settings, logits_processor=[counter])
    # Every sampled token is counted except an end-of-generation token (sampled, so seen by the hook).
    if c.finish_reason == "length":
        assert c.usage.completion_tokens == counter.calls == settings.max_tokens
    else:
        assert c.finish_reason == "stop"
        assert c.usage.completion_tokens == counter.calls - 1 < settings.max_tokens
    if not prompt.isascii():
        assert c.finish_reason == "length" and not c.text.isascii()  # the case that was miscounted
    if prompt == "Say hello.":
        assert c.finish_reason == "stop"
    llama_1t.llm.reset()
    streamed = llama_1t.stream(msgs, settings)
    assert "".join(streamed) == c.text
    assert streamed.completion.usage.completion_tokens == c.usage.completion_tokens
    assert streamed.completion.finish_reason == c.finish_reason
    if settings.temperature == 0:  # the prompt's KV reused (the reply's was dropped): the same reply
        warm = llama_1t.complete(msgs, settings)
        assert warm.usage.cached_tokens > 0
        assert (warm.text, warm.usage.completion_tokens, warm.finish_reason) == (
            c.text, c.usage.completion_tokens, c.finish_reason)
