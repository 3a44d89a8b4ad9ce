"""The graph agent behind the eval harness's ``EvalAgent`` protocol (``evals/agents.py``).

Contract: ``make_eval_agent(spec=None, **options)`` loads the spec (a name or path; default the
packaged ``retail``) and its model ONCE per process (a module-level cache keyed by the model
section, shared by every agent and episode in a worker). ``start(store, task_id, seed)`` opens an
ephemeral ``AgentSession`` on THAT store's tools (the harness's fresh copy per episode; never
closed here), sampling with ``seed``. ``respond(text)`` runs one turn and reports an ``AgentTurn``:
the calls actually run (guard refusals are not run: they are listed in ``policy_violations`` as
``blocked: <tool>: <reason>``, attempts against the policy the graph stopped; a refused repeat is a
loop, not a violation, and is not listed), the reply, model steps with retries
(``steps``/``valid_steps``/``invalid_steps``), identifiers the model invented and the parser
rejected (``hallucinated_ids``), tokens and seconds. An operator approval cannot happen here
(``approve`` is always off). ``task_id`` is never looked at.

Options: ``model`` (a ChatModel to use instead of the spec's: tests, a shared server),
``decoding_mode`` (overrides ``decoding.mode``), ``temperature`` (overrides ``generation.temperature``),
``memory`` / ``documents`` (a long-term memory store / document index every episode shares: the
multi-session suites). Without them the spec's ``memory:`` and ``retrieval:`` blocks are left out: an
episode starts with no past, or one trial of a user would remember the answers of the one before.
"""
from __future__ import annotations

import json
import re
import weakref
from typing import Any

from agentspec.graph.session import AgentSession
from agentspec.runtime.base import ChatModel
from agentspec.spec import AgentSpec, adapter_options, load_model, load_spec

__all__ = ["GraphEvalAgent", "GraphEvalSession", "make_eval_agent"]

_MODELS: dict[str, ChatModel] = {}
_DECODERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
# parse_step's message for an invented id: "<tool>.<path>='<value>' is not a <kind> id seen ..."
_UNGROUNDED = re.compile(r"=(['\"])(.+?)\1 is not an? \w+ id seen")


def _shared_model(spec: AgentSpec) -> ChatModel:
    # The adapters are part of what the model computes: retail and retail-base must not share one.
    key = spec.model.model_dump_json() + json.dumps(adapter_options(spec))
    if key not in _MODELS:
        _MODELS[key] = load_model(spec)
    return _MODELS[key]


class GraphEvalSession:
    def __init__(self, session: AgentSession):
        self.session = session

    def respond(self, user_text: str) -> Any:
        from agentspec.evals.agents import AgentTurn, ToolCallRecord

        result = self.session.send(user_text)
        calls = [ToolCallRecord(c["name"], dict(c["arguments"]), c["observation"],
                                "ok" if c["outcome"] == "ok" else "error") for c in result.tool_calls]
        decides = [e for e in result.entries if e.get("kind") == "decide"]
        attempts = sum(e.get("attempts", 1) for e in decides)
        valid = sum(e.get("outcome") != "malformed" for e in decides)
        invented = sorted({m.group(2) for e in decides for d in e.get("error_details", [])
                           for m in [_UNGROUNDED.search(d)] if m})
        # A repeated call is a loop the guard broke, not an attempt against the policy.
        blocked = [f"blocked: {e['calls'][0]['name']}: {e['outcome'].removeprefix('refused: ')}"
                   for e in result.entries if e.get("kind") == "guard" and e.get("outcome") != "refused: repeat"]
        policy = self.session.spec.policy
        transferred = any(c.name == policy.handoff.tool and c.outcome == "ok" for c in calls)
        return AgentTurn(
            reply=result.reply or "", tool_calls=calls, transferred=transferred, steps=attempts,
            valid_steps=valid, invalid_steps=attempts - valid, hallucinated_ids=invented,
            policy_violations=blocked, prompt_tokens=sum(e.get("prompt_tokens", 0) for e in decides),
            completion_tokens=sum(e.get("completion_tokens", 0) for e in decides), seconds=result.seconds)

    def close(self) -> None:
        self.session.close()  # closes only what the session opened: the harness's store stays open


class GraphEvalAgent:
    def __init__(self, spec: AgentSpec, model: ChatModel, decoding_mode: str | None = None,
                 memory: Any = None, documents: Any = None):
        self.spec = spec.model_copy(update={"memory": spec.memory if memory is not None else None,
                                            "retrieval": spec.retrieval if documents is not None else None})
        self.model = model
        self.memory = memory
        self.documents = documents
        from agentspec.decoding.engine import StepDecoder

        # One decoder per model: its grammar cache is shared by every episode.
        if model not in _DECODERS:
            _DECODERS[model] = StepDecoder(model, mode=decoding_mode or spec.decoding.mode,  # type: ignore[arg-type]
                                         max_attempts=spec.decoding.max_attempts)
        self.decoder = _DECODERS[model]

    def start(self, store: Any, task_id: str, seed: int = 0) -> GraphEvalSession:
        session = AgentSession(self.spec, model=self.model, decoder=self.decoder,
                               toolkits={self.spec.toolkits[0].name: store}, seed=seed, memory=self.memory,
                               documents=self.documents)
        return GraphEvalSession(session)


def make_eval_agent(spec: str | AgentSpec | None = None, *, model: ChatModel | None = None,
                    decoding_mode: str | None = None, temperature: float | None = None,
                    memory: Any = None, documents: Any = None) -> GraphEvalAgent:
    loaded = spec if isinstance(spec, AgentSpec) else load_spec(spec)
    if temperature is not None:
        # Sampling makes trials differ (each episode has its own seed), as tau-bench's do; the
        # packaged specs decode greedily, which makes every trial of a task the same.
        loaded = loaded.model_copy(update={"generation": loaded.generation.model_copy(update={"temperature": temperature})})
    return GraphEvalAgent(loaded, model if model is not None else _shared_model(loaded), decoding_mode, memory, documents)
