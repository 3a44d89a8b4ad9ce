import pytest

from agentspec.errors import ContextOverflowError
from agentspec.runtime.base import GenerationSettings, TokenStream, fit_messages
from agentspec.runtime.scripted import ScriptedChatModel


def words(messages):
    return sum(len(m["content"].split()) for m in messages)


def conv(n_turns, words_per_msg=10):
    msgs = [{"role": "system", "content": "sys " * 5}]
    for i in range(n_turns):
        msgs.append({"role": "user", "content": f"u{i} " * words_per_msg})
        msgs.append({"role": "assistant", "content": f"a{i} " * words_per_msg})
    msgs.append({"role": "user", "content": "last question"})
    return msgs


def test_fit_keeps_everything_when_it_fits():
    msgs = conv(2)
    fitted, dropped = fit_messages(msgs, words, 1000)
    assert fitted == msgs and dropped == 0


def test_fit_drops_oldest_turns_keeps_system_and_last():
    msgs = conv(5)  # 5 + 100 + 2 words
    fitted, dropped = fit_messages(msgs, words, 50)
    assert fitted[0]["role"] == "system"
    assert fitted[-1]["content"] == "last question"
    assert words(fitted) <= 50
    assert dropped == len(msgs) - len(fitted)
    # The oldest turns went first: what remains is a suffix of the conversation.
    assert fitted[1:] == msgs[len(msgs) - len(fitted) + 1:]
    # Never starts the kept body with an assistant turn.
    assert fitted[1]["role"] == "user"


def test_fit_raises_clear_error_when_last_message_alone_is_too_long():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "w " * 100}]
    with pytest.raises(ContextOverflowError) as err:
        fit_messages(msgs, words, 20)
    assert "context" in str(err.value) and "Hint:" in str(err.value)


def test_token_stream_collects_text_and_usage():
    stream = TokenStream(iter([("Hello", 1), (" world", 1)]), prompt_tokens=7, cached_tokens=3)
    assert list(stream) == ["Hello", " world"]
    c = stream.completion
    assert c.text == "Hello world"
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.cached_tokens) == (7, 2, 3)
    assert c.finish_reason == "stop"
    assert c.timings.total_s >= c.timings.ttft_s >= 0


def test_token_stream_close_keeps_partial_text():
    def gen():
        yield "a", 1
        yield "b", 1
        yield "c", 1

    stream = TokenStream(gen(), prompt_tokens=1)
    assert next(stream) == "a"
    c = stream.close()
    assert c.text == "a" and c.finish_reason == "interrupted"
    assert list(stream) == []


def test_token_stream_reports_length_finish():
    stream = TokenStream(iter([("x", 1), ("y", 1)]), prompt_tokens=1, max_tokens=2)
    assert stream.read().finish_reason == "length"


def test_reported_usage_wins():
    usage = {}

    def gen():
        yield "x", 1
        usage["completion_tokens"] = 5
        usage["prompt_tokens"] = 11

    c = TokenStream(gen(), prompt_tokens=0, reported_usage=usage).read()
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (11, 5)


def test_scripted_model_stream_equals_complete():
    model = ScriptedChatModel(["The answer is  42.\nDone.", "The answer is  42.\nDone."])
    msgs = [{"role": "user", "content": "q"}]
    streamed = "".join(model.stream(msgs))
    assert streamed == model.complete(msgs).text == "The answer is  42.\nDone."
    assert model.calls[0]["messages"] == msgs


def test_scripted_model_applies_context_policy():
    model = ScriptedChatModel(default_reply="ok", context_length=120)
    c = model.complete(conv(10), GenerationSettings(max_tokens=20))
    assert c.dropped_messages > 0
    assert model.calls[0]["messages"][0]["role"] == "system"


def test_scripted_callable_reply_sees_messages():
    model = ScriptedChatModel([lambda msgs: "echo " + msgs[-1]["content"]])
    assert model.complete([{"role": "user", "content": "hi"}]).text == "echo hi"


def test_completion_to_dict_has_reply_usage_timings():
    d = ScriptedChatModel(["a b c"]).complete([{"role": "user", "content": "q"}]).to_dict()
    assert d["reply"] == "a b c"
    assert d["usage"]["completion_tokens"] == 3
    assert set(d["timings"]) >= {"ttft_s", "total_s", "decode_tokens_per_s"}


def test_common_prefix_length():
    from agentspec.runtime.base import common_prefix_length

    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([7, 8], [7, 8]) == 2
