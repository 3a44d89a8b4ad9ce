"""OpenAI-compatible routes: ``GET /v1/models`` and ``POST /v1/chat/completions``, so that existing
OpenAI clients talk to an agent unchanged.

Contract:
- ``model`` names a served spec. The agent keeps the conversation itself (checkpoints, store), so only
  the last message runs: it must be the user's. Which conversation it continues: the
  ``X-Conversation-Id`` header if given (a conversation of this key); else the one of this key whose
  visible history (user and assistant texts) is exactly the messages before the last, as an OpenAI
  client sends back the replies it got; else, when those messages hold no user or assistant message, a
  new conversation. Any other history is 409 ``unknown_history`` (running it again could repeat writes).
  System messages are ignored: the spec's prompt is the system prompt.
- The response is a ``chat.completion`` (or, with ``"stream": true``, ``chat.completion.chunk`` SSE
  events and ``data: [DONE]``) whose content is the agent's reply; the conversation id comes back in
  the ``X-Conversation-Id`` header and the ``conversation`` field. A turn stopped at an operator
  approval answers with empty content and ``agentspec.approval`` set. Sampling parameters are the spec's.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agentspec.server.app import Integration
from agentspec.server.pool import Job
from agentspec.server.records import transcript_digest
from agentspec.server.security import ApiError

__all__ = ["install_openai"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: accepted, the spec decides
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


def install_openai(app: FastAPI, svc: Callable[[], Any]) -> None:
    @app.get("/v1/models")
    async def models(key: Integration) -> dict[str, Any]:
        s = svc()
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "agentspec"}
                                           for name in s.specs]}

    @app.post("/v1/chat/completions")
    async def completions(key: Integration, body: ChatRequest, request: Request) -> Any:
        s = svc()
        if body.model not in s.specs:
            raise ApiError(404, "unknown_spec", f"no spec {body.model!r} is served here (model = a spec name)",
                           f"Served: {', '.join(s.specs)}.")
        last = body.messages[-1]
        if last.role != "user" or not (last.content or "").strip():
            raise ApiError(400, "bad_request", "the last message must be the user's, with text")
        record = _conversation(s, key, body, request.headers.get("x-conversation-id"))
        job = Job(conversation=record["id"], spec=record["spec"], action="send", payload=last.content)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        headers = {"X-Conversation-Id": record["id"]}
        if body.stream:
            events = s.stream(job)
            return StreamingResponse(_chunks(events, completion_id, body.model, record["id"]),
                                     media_type="text/event-stream", headers=headers)
        result = await s.run(job, request)
        reply = result.get("reply") or ""
        payload = {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "conversation": record["id"],
            "agentspec": {"approval": result.get("approval"), "holder": result.get("holder"),
                          "events": [e["event"] for e in result.get("events", []) if e["event"] != "token"]},
        }
        return JSONResponse(payload, headers=headers)


def _conversation(s: Any, key: Any, body: ChatRequest, header: str | None) -> dict[str, Any]:
    if header:
        return s.owned(header, key)
    before = [m.model_dump() for m in body.messages[:-1]]
    if not any(m["role"] in ("user", "assistant") for m in before):
        return s.conversations.create(body.model, key.id)
    record = s.conversations.by_transcript(key.id, transcript_digest(key.id, before))
    if record is None or record["spec"] != body.model:
        raise ApiError(409, "unknown_history", "these messages are not the history of any conversation of this key",
                       "Send back the replies exactly as received, or the X-Conversation-Id header of the conversation.")
    return record


async def _chunks(events: AsyncIterator[dict[str, Any]], completion_id: str, model: str,
                  conversation: str) -> AsyncIterator[str]:
    """``chat.completion.chunk`` events: the role, the reply once the turn has it, the finish, [DONE]."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "conversation": conversation, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for event in events:
        if event["event"] == "reply":
            # The graph's reply is final; the model's token drafts may be retried or replaced, so the
            # OpenAI stream carries only the reply (the session API also streams the drafts).
            yield chunk({"content": event["text"]})
        elif event["event"] == "error":
            error = {k: v for k, v in event.items() if k != "event"}
            yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
