"""Reading a conversation's last checkpoint without a model: what GET on a conversation shows.

Contract: ``read_checkpoint(backing, conversation)`` is the channel values of the conversation's last
checkpoint (``messages``, ``trace``, ...), ``{}`` when it has none yet. With a shared checkpointer
(PostgreSQL) it reads that; otherwise the conversation's own ``checkpoints.sqlite`` in its session
folder, opened read-only, so a reader never blocks or changes a turn in flight.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from agentspec.errors import AgentSpecError

__all__ = ["read_checkpoint"]


def read_checkpoint(backing: Any, conversation: str) -> dict[str, Any]:
    config = {"configurable": {"thread_id": conversation}}
    if backing.checkpointer is not None:
        tup = backing.checkpointer.get_tuple(config)
        return dict(tup.checkpoint.get("channel_values", {})) if tup is not None else {}
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agentspec.graph.session import sessions_dir

    path = sessions_dir() / conversation / "checkpoints.sqlite"
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        tup = SqliteSaver(conn).get_tuple(config)
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise AgentSpecError(f"the checkpoints of conversation {conversation!r} ({path}) cannot be read: {exc}",
                             hint="Restore the file from a backup.", code="corrupt_checkpoints") from None
    finally:
        conn.close()
    return dict(tup.checkpoint.get("channel_values", {})) if tup is not None else {}
