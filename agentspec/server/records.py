"""The server's record of each conversation: who owns it, who holds it (the agent or a person), what waits.

Contract:
- ``Conversations(store)`` keeps one record per conversation in the backing's LangGraph store
  (namespace ``("agentspec", "conversations")``), shared by every replica on that store:
  ``{"id", "spec", "owner", "created", "updated", "user_id", "holder", "handoff", "approval",
  "transcript"}``. ``owner`` is the id of the API key that created it: only that key reads or
  writes it (operators reach it only through the hand-off and approval queues).
- ``holder`` is ``"agent"`` or ``"human"``: after the hand-off tool ran, the customer's messages
  go to the operator queue (``handoff = {"summary", "since"}``) until an operator closes it.
- ``approval`` is the operator approval a turn is stopped at (``--approve``), or None.
- ``transcript`` is the digest of the visible messages (user and agent texts) after the last turn: the
  OpenAI-compatible endpoint finds a conversation by the history a client sends back.
- Conversation ids are ``c-`` + 24 hex digits; ``new_id()`` makes one, ``valid_id`` checks one.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import Any

__all__ = ["Conversations", "new_id", "transcript_digest", "valid_id"]

_NAMESPACE = ("agentspec", "conversations")
_ID = re.compile(r"c-[0-9a-f]{24}")


def new_id() -> str:
    return "c-" + secrets.token_hex(12)


def valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def transcript_digest(owner: str, messages: list[dict[str, Any]]) -> str:
    """Digest of a key's visible conversation: ``[(role, text), ...]`` of user and assistant messages."""
    pairs = [(m.get("role"), m.get("content")) for m in messages if m.get("role") in ("user", "assistant")]
    return hashlib.sha256(json.dumps([owner, pairs], ensure_ascii=False).encode()).hexdigest()


class Conversations:
    def __init__(self, store: Any):
        self.store = store

    def create(self, spec: str, owner: str) -> dict[str, Any]:
        now = time.time()
        record = {"id": new_id(), "spec": spec, "owner": owner, "created": now, "updated": now, "user_id": None,
                  "holder": "agent", "handoff": None, "approval": None, "transcript": transcript_digest(owner, [])}
        self.store.put(_NAMESPACE, record["id"], record)
        return record

    def get(self, conversation: str) -> dict[str, Any] | None:
        if not valid_id(conversation):
            return None
        item = self.store.get(_NAMESPACE, conversation)
        return dict(item.value) if item is not None else None

    def update(self, conversation: str, **fields: Any) -> dict[str, Any]:
        record = self.get(conversation)
        if record is None:
            raise KeyError(conversation)
        record.update(fields, updated=time.time())
        self.store.put(_NAMESPACE, conversation, record)
        return record

    def by_transcript(self, owner: str, digest: str) -> dict[str, Any] | None:
        """The owner's conversation whose visible history has this digest (the newest, if several)."""
        items = self.store.search(_NAMESPACE, filter={"owner": owner, "transcript": digest}, limit=10)
        records = sorted((dict(i.value) for i in items), key=lambda r: r["updated"], reverse=True)
        return records[0] if records else None

    def handoffs(self) -> list[dict[str, Any]]:
        """Conversations a person holds, oldest hand-off first (the operator queue)."""
        items = self.store.search(_NAMESPACE, filter={"holder": "human"}, limit=1000)
        return sorted((dict(i.value) for i in items), key=lambda r: (r.get("handoff") or {}).get("since", 0))

    def approvals(self) -> list[dict[str, Any]]:
        """Conversations stopped at an operator approval, oldest first."""
        items = self.store.search(_NAMESPACE, limit=10_000)
        waiting = [dict(i.value) for i in items if i.value.get("approval")]
        return sorted(waiting, key=lambda r: r["updated"])

    def owned(self, owner: str) -> list[dict[str, Any]]:
        items = self.store.search(_NAMESPACE, filter={"owner": owner}, limit=10_000)
        return sorted((dict(i.value) for i in items), key=lambda r: r["updated"], reverse=True)
