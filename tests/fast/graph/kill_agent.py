"""The agent of the fast kill tests, built in each child process of ``agentspec.evals.kills``.

A scripted model whose step follows from the conversation so far (a resumed child continues where
the killed one stopped): find the user by email, read the order, cancel it. The keyword reader reads
the messages; the store starts from ``$AGENTSPEC_RETAIL_DB`` (the tiny shop of the graph tests).
"""
from __future__ import annotations

import json

from agentspec.graph import AgentSession
from agentspec.runtime.scripted import ScriptedChatModel
from agentspec.spec import load_spec
from fake_reader import KeywordReader

SCRIPT = ["cancel #W0000002, I'm alice@example.com, I ordered it by mistake", "yes"]


def _call(name: str, **arguments: str) -> str:
    return json.dumps({"calls": [{"name": name, "arguments": arguments}]})


def next_step(messages: list[dict]) -> str:
    seen = json.dumps(messages)
    if "alice_smith_1001" not in seen:
        return _call("find_user_id_by_email", email="alice@example.com")
    if "payment_history" not in seen:
        return _call("get_order_details", order_id="#W0000002")
    return _call("cancel_pending_order", order_id="#W0000002", reason="ordered by mistake")


def cancel_session(name: str) -> AgentSession:
    model = ScriptedChatModel(default_reply=next_step, context_length=8192)
    return AgentSession(load_spec("retail"), name=name, model=model, reader=KeywordReader())


def cancel_session_without_once(name: str) -> AgentSession:
    """The same agent with the store's ``once`` hook hidden: a resumed turn runs its write again."""
    agent = cancel_session(name)
    hook = agent.deps.hook
    agent.deps.hook = lambda hook_name, tool: None if hook_name == "once" else hook(hook_name, tool)  # type: ignore[method-assign]
    return agent
