import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from agentspec.cli import cli
from agentspec.errors import ContextOverflowError
from agentspec.repl import ChatRepl
from agentspec.runtime.base import GenerationSettings, TokenStream
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.settings import RuntimeSettings


@pytest.fixture
def scripted(monkeypatch):
    model = ScriptedChatModel(name="fake")
    monkeypatch.setattr(RuntimeSettings, "load", lambda self: model)
    return model


def test_ask_json_last_line_is_one_object(scripted):
    scripted.enqueue("Paris is the capital.")
    result = CliRunner().invoke(cli, ["ask", "Capital of France?", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["reply"] == "Paris is the capital."
    assert payload["usage"]["completion_tokens"] == 4
    assert "ttft_s" in payload["timings"]
    assert scripted.calls[0]["messages"] == [{"role": "user", "content": "Capital of France?"}]


def test_ask_streams_plain_text(scripted):
    scripted.enqueue("one two three")
    result = CliRunner().invoke(cli, ["ask", "count", "--system", "Be terse."])
    assert result.output == "one two three\n"
    assert scripted.calls[0]["messages"][0] == {"role": "system", "content": "Be terse."}


def test_unknown_backend_is_a_clear_error_exit_2():
    result = CliRunner().invoke(cli, ["ask", "hi", "--backend", "nonesuch"])
    assert result.exit_code == 2
    assert "Unknown backend 'nonesuch'" in result.output and "Hint:" in result.output
    assert "Traceback" not in result.output


def test_missing_model_file_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["ask", "hi", "--model", str(tmp_path / "gone.gguf")])
    assert result.exit_code == 2
    assert "Model file not found" in result.output


def test_env_var_sets_option(monkeypatch):
    seen = {}
    monkeypatch.setattr(RuntimeSettings, "load", lambda self: seen.setdefault("s", self) and ScriptedChatModel(["x"]))
    CliRunner().invoke(cli, ["ask", "hi"], env={"AGENTSPEC_TEMPERATURE": "0.0", "AGENTSPEC_MAX_TOKENS": "7"})
    assert seen["s"].temperature == 0.0 and seen["s"].max_tokens == 7


def make_repl(model, lines=None, system=None):
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    feed = iter(lines or [])

    def read(prompt):
        try:
            return next(feed)
        except StopIteration:
            raise EOFError

    repl = ChatRepl(model, GenerationSettings(), system=system, console=console, read_line=read,
                    load_model=lambda name: ScriptedChatModel(name=name))
    return repl, out


def test_repl_conversation_and_commands():
    model = ScriptedChatModel(["Hello there.", "Second answer."])
    repl, out = make_repl(model, ["hi", "/stats", "again", "/reset", "/help", "/model", "/bogus", "/exit", "never"],
                          system="You are kind.")
    repl.run()
    text = out.getvalue()
    assert "Hello there." in text and "Second answer." in text
    assert "reply tokens" in text and "time to first token" in text
    assert "/reset" in text  # help printed
    assert "unknown command /bogus" in text
    # The second call saw the whole history, then /reset cleared it back to the system prompt.
    assert [m["role"] for m in model.calls[1]["messages"]] == ["system", "user", "assistant", "user"]
    assert repl.messages == [{"role": "system", "content": "You are kind."}]
    assert len(model.calls) == 2  # nothing after /exit was sent


def test_repl_ctrl_c_stops_reply_and_keeps_session():
    class Interrupting(ScriptedChatModel):
        def stream(self, messages, settings=None, **hooks):
            self.calls.append({"messages": list(messages)})

            def gen():
                yield "partial ", 1
                raise KeyboardInterrupt

            return TokenStream(gen(), prompt_tokens=1)

    repl, out = make_repl(Interrupting())
    completion = repl.respond("tell me a long story")
    assert completion.finish_reason == "interrupted"
    assert completion.text == "partial "
    assert repl.messages[-1] == {"role": "assistant", "content": "partial "}
    assert "(stopped)" in out.getvalue()


def test_repl_model_switch_keeps_conversation():
    repl, out = make_repl(ScriptedChatModel(["a"]))
    repl.respond("q")
    repl.handle("/model other")
    assert repl.model.name == "other"
    assert len(repl.messages) == 2


def test_repl_reports_dropped_turns():
    model = ScriptedChatModel(default_reply="ok", context_length=60)
    repl, out = make_repl(model)
    for i in range(12):
        repl.respond(f"message number {i} with several words in it")
    assert "oldest messages were left out" in out.getvalue()


def test_repl_overflow_error_keeps_session():
    model = ScriptedChatModel(default_reply="ok", context_length=40)
    repl, out = make_repl(model)
    repl.respond("short")
    assert repl.respond("word " * 200) is None
    assert "Error:" in out.getvalue()
    assert len(repl.messages) == 2  # the too-long message was not kept, the earlier turn was


def test_chat_plain_keeps_the_bare_model_repl(scripted):
    scripted.enqueue("Hello from the bare model.")
    result = CliRunner().invoke(cli, ["chat", "--plain", "--system", "Be kind."], input="hi\n")
    assert result.exit_code == 0, result.output
    assert "Hello from the bare model." in result.output
    assert scripted.calls[0]["messages"] == [{"role": "system", "content": "Be kind."},
                                             {"role": "user", "content": "hi"}]
