"""Token accounting of the llama.cpp backend, with a fake ``Llama`` whose tokens are given byte pieces.

A multi-byte character often spans several tokens (CJK, emoji). Each sampled token must count once
(the end-of-generation token never), the reply must end at exactly ``max_tokens`` tokens, and text is
released only as whole characters and once it cannot begin a stop string.
"""
from __future__ import annotations

import pytest

import agentspec.runtime.llamacpp as llamacpp_backend
from agentspec.runtime.base import GenerationSettings, TokenStream
from agentspec.runtime.llamacpp import LlamaCppChatModel

EOS = 0
PROMPT = [101, 102, 103]
CAT = "猫".encode()  # 3 bytes
IS = "是".encode()


class FakeLlama:
    """Samples the scripted tokens in order, then EOS; evaluates a token only when asked for the next."""

    def __init__(self, pieces: list[bytes]):
        self.vocab = {i + 1: piece for i, piece in enumerate(pieces)}
        self.script = list(self.vocab) + [EOS]
        self.n_tokens = 0
        self._requires_eval = False
        self.seed: int | None = None
        self.kwargs: dict = {}
        self.sampled = 0
        self.closed = False

    def set_seed(self, seed: int) -> None:
        self.seed = seed

    def detokenize(self, tokens: list[int]) -> bytes:
        return b"".join(self.vocab[t] for t in tokens)

    def generate(self, tokens, **kwargs):
        self.kwargs = kwargs
        self.n_tokens = len(tokens)
        try:
            for token in self.script:
                self.sampled += 1
                yield token
                self.n_tokens += 1  # llama-cpp-python evaluates the token before sampling the next
        finally:
            self.closed = True


@pytest.fixture(autouse=True)
def _eos_is_zero(monkeypatch):
    monkeypatch.setattr(llamacpp_backend, "_is_eog", lambda llm, token: token == EOS)


def run(pieces: list[bytes], max_tokens: int = 50, stop: tuple[str, ...] = ()):
    model = LlamaCppChatModel.__new__(LlamaCppChatModel)
    model.llm = FakeLlama(pieces)
    settings = GenerationSettings(max_tokens=max_tokens, stop=stop, seed=7)
    stream = TokenStream(model._generate(PROMPT, settings, max_tokens, None), prompt_tokens=len(PROMPT),
                         max_tokens=max_tokens)
    deltas = list(stream)
    return deltas, stream.completion, model.llm


def split(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def test_each_token_of_a_multibyte_character_counts():
    pieces = split(CAT) + [IS[:1], IS[1:], b"!"]  # 6 tokens: "猫" in 3, "是" in 2, "!"
    deltas, c, llm = run(pieces)
    assert c.text == "猫是!"
    assert deltas == ["", "", "猫", "", "是", "!"]  # one delta per token, "" while a character is incomplete
    assert c.usage.completion_tokens == 6 and c.finish_reason == "stop"
    assert llm.sampled == 7  # the EOS was sampled, and is not counted


@pytest.mark.parametrize("max_tokens,text", [(3, "猫"), (4, "猫"), (5, "猫是")])
def test_cut_at_max_tokens_is_length_even_mid_character(max_tokens, text):
    deltas, c, llm = run(split(CAT) + [IS[:1], IS[1:], b"!"], max_tokens=max_tokens)
    assert c.text == text  # the bytes of a cut character are dropped
    assert c.usage.completion_tokens == max_tokens == len(deltas) == llm.sampled
    assert c.finish_reason == "length"


def test_ascii_counts_one_per_token():
    deltas, c, _ = run([b"Hello", b",", b" world"])
    assert deltas == ["Hello", ",", " world"]
    assert (c.usage.completion_tokens, c.finish_reason) == (3, "stop")
    _, c, _ = run([b"Hello", b",", b" world"], max_tokens=2)
    assert (c.text, c.usage.completion_tokens, c.finish_reason) == ("Hello,", 2, "length")


def test_stop_string_is_held_back_and_its_tokens_count():
    deltas, c, llm = run([b"ab", b"c S", b"TO", b"P", b"after"], stop=("STOP",))
    assert c.text == "abc "
    assert deltas == ["ab", "c ", "", ""]  # "S", "STO" could begin the stop string: not shown
    assert c.usage.completion_tokens == 4 and c.finish_reason == "stop"
    assert llm.sampled == 4 and llm.closed


def test_earliest_stop_string_wins():
    _, c, _ = run([b"x", b"B", b"A"], stop=("A", "B"))
    assert c.text == "x"


def test_multibyte_stop_string():
    _, c, _ = run([b"ok "] + split(CAT) + [b"tail"], stop=("猫",))
    assert (c.text, c.usage.completion_tokens, c.finish_reason) == ("ok ", 4, "stop")


def test_held_back_stop_prefix_is_flushed_at_the_end():
    deltas, c, _ = run([b"a", b"ST", b"O"], stop=("STOP",))
    assert c.text == "aSTO" and deltas[-1] == "STO"
    assert (c.usage.completion_tokens, c.finish_reason) == (3, "stop")  # the flush carries no token
    deltas, c, _ = run([b"a", b"ST", b"O", b"x"], max_tokens=3, stop=("STOP",))
    assert (c.text, c.usage.completion_tokens, c.finish_reason) == ("aSTO", 3, "length")


def test_invalid_utf8_is_dropped():
    _, c, _ = run([b"a", b"\xff", b"b", CAT[:2]])
    assert (c.text, c.usage.completion_tokens) == ("ab", 4)


def test_sampling_settings_and_seed_reach_llama_cpp():
    _, _, llm = run([b"a"])
    assert llm.seed == 7
    assert llm.kwargs == {"top_k": 0, "top_p": 1.0, "min_p": 0.0, "typical_p": 1.0, "temp": 0.0,
                          "repeat_penalty": 1.0, "logits_processor": None}


def test_reply_kv_is_dropped_after_generation_and_on_close():
    _, _, llm = run([b"a", b"b", b"c"])
    assert llm.n_tokens == len(PROMPT) and llm._requires_eval and llm.closed

    model = LlamaCppChatModel.__new__(LlamaCppChatModel)
    model.llm = llm = FakeLlama([b"a", b"b", b"c"])
    stream = TokenStream(model._generate(PROMPT, GenerationSettings(), 50, None), prompt_tokens=3, max_tokens=50)
    next(stream), next(stream)
    c = stream.close()
    assert (c.text, c.usage.completion_tokens, c.finish_reason) == ("ab", 2, "interrupted")
    assert llm.closed and llm.n_tokens == len(PROMPT)
