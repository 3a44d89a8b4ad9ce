"""Before anyone is authenticated: can the user's words be looked up yet?

The policy's first step is authentication, and a small model is unreliable on both sides of it: with
an email in hand it replied "Sure, go to the order pages" instead of looking it up; with nothing to
look up it looked up anyway ("I moved. Can order #W7857572 be delivered to 264 River Road Suite 604,
San Antonio TX 78268?" became first name "Antonio", last name "River", zip 78268, ten times).

Contract: ``identity_given(state, deps)`` is true when some auth tool (``policy.authentication.tools``) has a
value for every identifier argument from what the user said: for a kind the spec follows
(``policy.targets.lookups``, e.g. ``name``) the words must name it (the reader's slots, or the
toolkit's ``mentions`` hook), for any other kind (an email, a zip) a seen value is
enough. The graph uses it three times: given, the turn's first step is a call (the lookup,
``policy.authentication.act_on_identity``); not given, the model's reply is replaced by
``messages.identity_request`` (``nodes``); when there are any, ``identity_tools`` are the only auth
tools a step before authentication may call (``narrowing``): an email given is looked up by email,
not as a name read out of the email with a zip from an address.

``identity_failed(state, deps)`` is true while nobody is authenticated and an auth tool failed in
this turn (run and answered an error, or refused as a call that already failed): the user then hears
``messages.identity_not_found`` rather than whatever the model would say (``nodes.respond``).
"""
from __future__ import annotations

from agentspec.decoding.schema import identifier_kind
from agentspec.graph.deps import AgentDeps
from agentspec.graph.state import AgentState

__all__ = ["identity_failed", "identity_given", "identity_tools"]


def identity_given(state: AgentState, deps: AgentDeps) -> bool:
    """Whether an auth tool could be called with values the user's words give (see the module doc)."""
    return bool(identity_tools(state, deps))


def identity_tools(state: AgentState, deps: AgentDeps) -> list[str]:
    """The auth tools that could be called with values the user's words give (see the module doc)."""
    seen = state.get("grounding") or {}
    said = list(state.get("said") or [])  # every message before authentication: nothing is settled yet
    followed = set(deps.spec.policy.targets.lookups)
    slots = state.get("slots") or []
    given = []
    for tool in deps.offered_tools(None):  # before authentication: exactly the auth tools
        properties = tool.parameters.get("properties", {})
        kinds = {argument: identifier_kind(schema) for argument, schema in properties.items()}
        if not kinds or any(kind is None for kind in kinds.values()):
            continue  # an argument that is no identifier: nothing tells whether the user gave it
        if all(deps.mentioned(tool.name, kind, said, sorted(seen.get(kind, ())), argument, dict(seen), slots)
               if kind in followed else seen.get(kind) for argument, kind in kinds.items()):
            given.append(tool.name)
    return given


def identity_failed(state: AgentState, deps: AgentDeps) -> bool:
    """Whether nobody is authenticated and an auth tool failed in this turn (see the module doc)."""
    if state.get("user_id") is not None:
        return False
    auth, turn = set(deps.spec.policy.authentication.tools), state.get("turn", 0)
    for entry in reversed(state.get("trace") or []):
        if entry.get("turn") != turn:
            return False
        calls = entry.get("calls") or []
        if entry.get("kind") in ("tool", "guard") and entry.get("outcome") != "ok" and any(c["name"] in auth for c in calls):
            return True
    return False
