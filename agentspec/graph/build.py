r"""Assemble the agent's LangGraph ``StateGraph`` from its nodes, bound to one agent's ``AgentDeps``.

    START -> begin -(a clear yes to the stated write)-> guard
                  |-(a plain no)-> respond -> END
                  \-> recall -> plan -(the graph's own step)-> guard
                           |-(ask / cannot)-> respond
                           \-> decide -(reply / malformed)-> respond
                                      \-(calls)-> guard -(statement needed)-> confirm -> END
                                                       |-(stop: repeats)-> respond
                                                       |-(--approve, consequential call)-> approve -> act
                                                       \-> act -(steps left)-> recall -> plan
                                                                \-(limit / hand-off / reported)-> respond

Contract: ``build_graph(deps, checkpointer)`` compiles it; one ``invoke`` with
``{"messages": [{"role": "user", "content": text}]}`` runs one turn (the reply is ``state["reply"]``).
With operator approval the turn may stop at an interrupt; ``Command(resume=answer)`` continues it.
Nodes are plain functions of the state; ``functools.partial`` gives them ``deps``.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph

from agentspec.graph import nodes
from agentspec.graph.planning import plan, route_plan
from agentspec.graph.reading import begin, route_begin
from agentspec.graph.recall import recall
from agentspec.graph.deps import AgentDeps
from agentspec.graph.guard import approve, guard, route_guard
from agentspec.graph.state import AgentState

__all__ = ["build_graph"]


def build_graph(deps: AgentDeps, checkpointer: Any = None) -> Any:
    """The compiled agent graph (a LangGraph ``CompiledStateGraph``)."""
    g = StateGraph(AgentState)
    g.add_node("begin", partial(begin, deps=deps))
    g.add_node("recall", partial(recall, deps=deps))
    g.add_node("plan", partial(plan, deps=deps))
    g.add_node("decide", partial(nodes.decide, deps=deps))
    g.add_node("guard", partial(guard, deps=deps))
    g.add_node("approve", partial(approve, deps=deps))
    g.add_node("act", partial(nodes.act, deps=deps))
    g.add_node("confirm", partial(nodes.confirm, deps=deps))
    g.add_node("respond", partial(nodes.respond, deps=deps))
    g.add_edge(START, "begin")
    g.add_conditional_edges("begin", route_begin, {"guard": "guard", "respond": "respond", "plan": "recall"})
    g.add_edge("recall", "plan")
    g.add_conditional_edges("plan", route_plan, ["guard", "respond", "decide"])
    g.add_conditional_edges("decide", nodes.route_decide, ["guard", "respond"])
    g.add_conditional_edges("guard", partial(route_guard, deps=deps), ["confirm", "respond", "approve", "act"])
    g.add_edge("approve", "act")
    g.add_conditional_edges("act", partial(nodes.route_act, deps=deps), {"plan": "recall", "respond": "respond"})
    g.add_edge("confirm", END)
    g.add_edge("respond", END)
    return g.compile(checkpointer=checkpointer)
