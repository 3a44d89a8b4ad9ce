"""The LangGraph agent: typed state, policy guard, nodes, sessions with checkpoints, traces.

    from agentspec.spec import load_spec
    from agentspec.graph import AgentSession

    with AgentSession(load_spec("retail"), name="demo") as session:
        print(session.send("Hi, I want to cancel an order").reply)
"""
from agentspec.graph.build import build_graph
from agentspec.graph.deps import AgentDeps
from agentspec.graph.session import AgentSession, TurnResult, list_sessions, read_session_trace
from agentspec.graph.state import AgentState

__all__ = ["AgentDeps", "AgentSession", "AgentState", "TurnResult", "build_graph", "list_sessions",
           "read_session_trace"]
