"""Input a careless or hostile user gives an agent session: a huge message, Ctrl-C in the middle of a turn."""
from __future__ import annotations

import io

from rich.console import Console

from agentspec.agent_repl import AgentRepl
from agentspec.decoding.grounding import MAX_VALUES_PER_KIND
from agentspec.graph import AgentSession
from agentspec.runtime.base import TokenStream
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import load_spec

from conftest import changed, reply


def _spec():
    return changed(load_spec("retail"), understanding={"requests": {}}, policy={"ask_for_request": False})


def test_a_700_word_message_is_bounded_in_state_and_said_so_in_the_trace(shop_db):
    scripted = ScriptedChatModel(context_length=8192, default_reply=reply("Could you say that in a sentence or two?"))
    text = " ".join(f"word{i % 97} thing{i % 89}" for i in range(350))  # 700 words, no punctuation
    with AgentSession(_spec(), model=scripted, data=shop_db) as s:
        for _ in range(2):  # the bound holds across messages
            turn = s.send(text)
            assert turn.reply
            rows = [e for e in turn.entries if e["kind"] == "grounding"]
            assert len(rows) == 1 and rows[0]["dropped"]["dictated"] > 10_000
            assert all(len(values) <= MAX_VALUES_PER_KIND for values in s.state["grounding"].values())
        assert "word58 thing82" in s.state["grounding"]["dictated"]  # the newest run (i = 349) is kept


class InterruptedOnce(ScriptedChatModel):
    """Ctrl-C arrives while the first model step is being generated; later steps answer normally."""

    def stream(self, messages, settings=None, **hooks):
        if not self.calls:
            self.calls.append({"messages": list(messages)})

            def interrupted():
                yield '{"reply": "Sure', 1
                raise KeyboardInterrupt

            return TokenStream(interrupted(), prompt_tokens=1)
        return super().stream(messages, settings, **hooks)


def test_ctrl_c_during_an_agent_turn_stops_the_turn_and_keeps_the_repl(shop_db):
    model = InterruptedOnce(context_length=8192, default_reply=reply("How can I help?"))
    out = io.StringIO()
    lines = iter(["hello there, my order", "hello again", "/exit"])
    with AgentSession(_spec(), name="ctrlc", model=model, data=shop_db) as s:
        AgentRepl(s, console=Console(file=out, width=140), read_line=lambda prompt: next(lines)).run()
        text = out.getvalue()
        assert "(stopped)" in text
        assert text.count("agent> ") >= 1  # the REPL went on: the next message was answered
        assert s.state["messages"][-2]["content"] == "hello again"  # the session took the next message
        assert not s.interrupted()
        # The stopped turn was ended where it stood, not finished later: no reply to it in the history.
        said = [m["content"] for m in s.history() if m["role"] == "user" or "reply" in m["content"]]
        assert said[:2] == ["hello there, my order", "hello again"]
        assert text.count("agent> ") == 1  # one reply: to the second message
