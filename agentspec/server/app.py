"""The HTTP application of ``agentspec serve``: conversations, their events, operators, health, the page.

Routes (JSON; errors are ``{"error": {"code", "message", "hint"}}`` with a 4xx/5xx status):

    GET  /healthz  /readyz  /metrics          liveness, readiness (models loaded), Prometheus text
    GET  /                                    the web chat page
    GET  /v1/models                           the specs served (OpenAI list)
    POST /v1/chat/completions                 OpenAI-compatible (openai_api.py)
    POST /v1/conversations                    {"spec"?} -> a new conversation            integration key
    GET  /v1/conversations                    this key's conversations                   integration key
    GET  /v1/conversations/{id}               its visible messages, holder, approval     integration key
    GET  /v1/conversations/{id}/trace         the graph's trace of it                    integration key
    POST /v1/conversations/{id}/messages      {"content", "stream"?}: SSE events, or JSON with "stream": false
    GET  /v1/operator/handoffs                conversations a person holds               operator key
    GET  /v1/operator/conversations/{id}      one of them (or one waiting for approval)  operator key
    POST /v1/operator/handoffs/{id}/messages  {"content"}: the operator's message       operator key
    POST /v1/operator/handoffs/{id}/close     hands the conversation back to the agent   operator key
    GET  /v1/operator/approvals               turns stopped at an approval (--approve)   operator key
    POST /v1/operator/approvals/{id}          {"type": "accept" | "reject"}: the typed answer; the turn finishes

A conversation is bound to the key that created it: any other key gets 404, as for an id that does not
exist (nothing tells a stranger that it does). Turns go through the pool (``pool``): a full queue is
429 with Retry-After; a client that disconnects cancels its turn.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from agentspec.errors import AgentSpecError
from agentspec.server.events import sse
from agentspec.server.pool import Job, QueueFull
from agentspec.server.security import ApiError, BodyLimit, RateLimiter, authenticate, error_body
from agentspec.server.settings import ServeSettings
from agentspec.server.turns import visible_messages

__all__ = ["create_app", "Services"]

_WEB_PAGE = Path(__file__).with_name("web") / "index.html"
# AgentSpecError codes and their HTTP status; any other code is a 400.
_STATUS = {"approval_pending": 409, "no_approval": 409, "session_busy": 409, "conversation_busy": 409,
           "cancelled": 499, "shutting_down": 503, "internal": 500, "corrupt_checkpoints": 500, "corrupt_store": 500,
           "database_unreachable": 503}


class NewConversation(BaseModel):
    spec: str | None = Field(None, description="The spec's name (default: the first served).")


class Message(BaseModel):
    content: str = Field(min_length=1)
    stream: bool = True


class Answer(BaseModel):
    type: str = Field(description="accept | reject")


class Services:
    """What the routes share: specs, backing, keys, conversations, pool, limits, metrics."""

    def __init__(self, settings: ServeSettings, load_model: Callable[[Any], Any] | None = None):
        from agentspec.server.backing import open_backing
        from agentspec.server.keys import KeyRing
        from agentspec.server.metrics import Metrics
        from agentspec.server.pool import TurnPool
        from agentspec.server.records import Conversations
        from agentspec.graph.session import agentspec_home
        from agentspec.spec import load_spec

        self.settings = settings
        self.specs = {}
        for name in settings.specs:
            spec = load_spec(name)
            self.specs[spec.name] = spec
        self.backing = open_backing(settings.database, agentspec_home())
        self.keys = KeyRing(self.backing.store)
        self.conversations = Conversations(self.backing.store)
        self.metrics = Metrics()
        self.limiter = RateLimiter(settings.rate_per_minute)
        self.pool = TurnPool(self.specs, self.backing, self.conversations, workers=settings.workers,
                             queue_size=settings.queue, threads=settings.threads, approve=settings.approve,
                             data=settings.data, metrics=self.metrics, load_model=load_model)

    def key(self, request: Request, role: str) -> Any:
        key = authenticate(request, self.keys, role)
        self.limiter.check(key.id)
        return key

    def owned(self, conversation: str, key: Any) -> dict[str, Any]:
        record = self.conversations.get(conversation)
        if record is None or record["owner"] != key.id:
            raise ApiError(404, "unknown_conversation", f"no conversation {conversation!r} for this key",
                           "POST /v1/conversations creates one.")
        return record

    def submit(self, job: Job) -> Job:
        try:
            return self.pool.submit(job)
        except QueueFull as exc:
            self.metrics.rejected("queue_full")
            raise ApiError(429, "queue_full", "every model worker is busy and the queue is full",
                           f"Retry after {exc.retry_after} s.", headers={"Retry-After": str(exc.retry_after)})

    async def run(self, job: Job, request: Request) -> dict[str, Any]:
        """Submit ``job`` and wait for its result; a client that leaves cancels it."""
        finished = asyncio.Event()
        loop = asyncio.get_running_loop()
        job.on_done = lambda: loop.call_soon_threadsafe(finished.set)
        self.submit(job)
        while not finished.is_set():
            try:
                await asyncio.wait_for(finished.wait(), timeout=0.5)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def stream(self, job: Job) -> AsyncIterator[dict[str, Any]]:
        """Submit ``job`` now (a full queue raises 429 before any event is sent) and give its events as
        they happen, then ``done`` or ``error``. Closing the iterator early (the client left) cancels it."""
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        job.emit = lambda event: loop.call_soon_threadsafe(events.put_nowait, event)
        job.on_done = lambda: loop.call_soon_threadsafe(events.put_nowait, None)
        self.submit(job)

        async def follow() -> AsyncIterator[dict[str, Any]]:
            try:
                while (event := await events.get()) is not None:
                    yield event
                if job.error is not None:
                    error = error_body(job.error.code or "error", job.error.message, job.error.hint)["error"]
                    yield {"event": "error", **error}
                else:
                    result = job.result or {}
                    yield {"event": "done", "turn": result.get("turn"), "seconds": result.get("seconds"),
                           "holder": result.get("holder"), "approval": result.get("approval")}
            finally:
                if not job.done.is_set():
                    job.cancel()

        return follow()


def create_app(settings: ServeSettings | None = None, *, load_model: Callable[[Any], Any] | None = None) -> Any:
    """The ASGI application (FastAPI inside a body-size limit). ``load_model(spec)``: tests' scripted models."""
    settings = settings or ServeSettings()
    services: Services | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal services
        services = Services(settings, load_model)
        app.state.services = services
        services.pool.start()
        try:
            yield
        finally:
            await asyncio.to_thread(services.pool.shutdown, settings.shutdown_timeout_s)
            services.backing.close()

    app = FastAPI(title="agentspec", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)

    def svc() -> Services:
        assert services is not None
        return services

    _install_errors(app, svc)
    _install_health(app, svc)
    _install_conversations(app, svc)
    _install_operator(app, svc)
    from agentspec.server.openai_api import install_openai

    install_openai(app, svc)
    wrapped = BodyLimit(app, settings.max_body_bytes)
    wrapped.state = app.state  # type: ignore[attr-defined]
    return wrapped


def _install_errors(app: FastAPI, svc: Callable[[], Services]) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.hint), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(AgentSpecError)
    async def agentspec_error(request: Request, exc: AgentSpecError) -> JSONResponse:
        status = _STATUS.get(exc.code or "", 400)
        headers = {"Retry-After": "1"} if status in (409, 503) else {}
        return JSONResponse(error_body(exc.code or "error", exc.message, exc.hint), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return JSONResponse(error_body("bad_json", "the request body is not valid JSON",
                                           "Send a JSON object with Content-Type: application/json."), status_code=400)
        where = "; ".join(f"{'.'.join(str(x) for x in p.get('loc', ()))}: {p.get('msg')}" for p in problems[:5])
        return JSONResponse(error_body("bad_request", f"the request does not fit the endpoint: {where}"), status_code=400)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:  # no stack trace leaves the server
        import logging

        logging.getLogger("agentspec.server").exception("unhandled error on %s", request.url.path)
        return JSONResponse(error_body("internal", "the server failed on this request", "It is logged; try again."),
                            status_code=500)

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        services = svc() if services_ready(app) else None
        if services is not None:
            services.metrics.request(request.method, getattr(route, "path", "unmatched"), response.status_code,
                                     time.perf_counter() - started)
        return response


def services_ready(app: FastAPI) -> bool:
    return getattr(app.state, "services", None) is not None


def _install_health(app: FastAPI, svc: Callable[[], Services]) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        pool = svc().pool
        body = {"ready": pool.ready, "workers": pool.size(), "busy": pool.busy(), "queued": pool.depth(),
                **({"errors": pool.load_errors()} if pool.load_errors() else {})}
        return JSONResponse(body, status_code=200 if pool.ready else 503)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        s = svc()
        gauges = {"queue_depth": s.pool.depth(), "workers_busy": s.pool.busy(), "workers": s.pool.size(),
                  "handoff_queue_depth": len(s.conversations.handoffs())}
        return PlainTextResponse(s.metrics.render(gauges), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(_WEB_PAGE.read_text(encoding="utf-8"))


def _integration_key(request: Request) -> Any:
    return request.app.state.services.key(request, "integration")


def _operator_key(request: Request) -> Any:
    return request.app.state.services.key(request, "operator")


Integration = Annotated[Any, Depends(_integration_key)]  # the request's key, of that role
Operator = Annotated[Any, Depends(_operator_key)]


def _install_conversations(app: FastAPI, svc: Callable[[], Services]) -> None:
    # Keys are dependencies: checked before the body is read or validated.
    @app.post("/v1/conversations", status_code=201)
    async def create(key: Integration, body: NewConversation | None = None) -> dict[str, Any]:
        s = svc()
        spec = (body.spec if body else None) or next(iter(s.specs))
        if spec not in s.specs:
            raise ApiError(404, "unknown_spec", f"no spec {spec!r} is served here", f"Served: {', '.join(s.specs)}.")
        record = s.conversations.create(spec, key.id)
        return _public(record)

    @app.get("/v1/conversations")
    async def list_owned(key: Integration) -> dict[str, Any]:
        return {"data": [_public(r) for r in svc().conversations.owned(key.id)]}

    @app.get("/v1/conversations/{conversation}")
    async def read(conversation: str, key: Integration) -> dict[str, Any]:
        s = svc()
        record = s.owned(conversation, key)
        history = await asyncio.to_thread(_history, s, record)
        return {**_public(record), "messages": history}

    @app.get("/v1/conversations/{conversation}/trace")
    async def trace(conversation: str, key: Integration) -> dict[str, Any]:
        s = svc()
        record = s.owned(conversation, key)
        return {"id": record["id"], "trace": await asyncio.to_thread(_state_of, s, record, "trace")}

    @app.post("/v1/conversations/{conversation}/messages")
    async def send(conversation: str, key: Integration, body: Message, request: Request) -> Any:
        s = svc()
        record = s.owned(conversation, key)
        job = Job(conversation=record["id"], spec=record["spec"], action="send", payload=body.content)
        if not body.stream:
            return await s.run(job, request)
        return _event_stream(s, job)


def _install_operator(app: FastAPI, svc: Callable[[], Services]) -> None:
    def queued(s: Services, conversation: str) -> dict[str, Any]:
        record = s.conversations.get(conversation)
        if record is None or (record.get("holder") != "human" and not record.get("approval")):
            raise ApiError(404, "not_queued", f"conversation {conversation!r} is in no operator queue",
                           "GET /v1/operator/handoffs and /v1/operator/approvals list what is.")
        return record

    @app.get("/v1/operator/handoffs")
    async def handoffs(key: Operator) -> dict[str, Any]:
        return {"data": [_public(r) for r in svc().conversations.handoffs()]}

    @app.get("/v1/operator/conversations/{conversation}")
    async def read_queued(conversation: str, key: Operator) -> dict[str, Any]:
        s = svc()
        record = queued(s, conversation)
        return {**_public(record), "messages": await asyncio.to_thread(_history, s, record)}

    @app.post("/v1/operator/handoffs/{conversation}/messages")
    async def reply(conversation: str, key: Operator, body: Message, request: Request) -> dict[str, Any]:
        s = svc()
        record = queued(s, conversation)
        if record.get("holder") != "human":
            raise ApiError(409, "not_handed_off", "the agent holds this conversation; it waits for an approval")
        job = Job(conversation=conversation, spec=record["spec"], action="operator", payload=body.content,
                  operator=key.name)
        return await s.run(job, request)

    @app.post("/v1/operator/handoffs/{conversation}/close")
    async def close(conversation: str, key: Operator, request: Request) -> dict[str, Any]:
        s = svc()
        record = queued(s, conversation)
        if record.get("holder") != "human":
            raise ApiError(409, "not_handed_off", "the agent holds this conversation already")
        return await s.run(Job(conversation=conversation, spec=record["spec"], action="close"), request)

    @app.get("/v1/operator/approvals")
    async def approvals(key: Operator) -> dict[str, Any]:
        return {"data": [_public(r) for r in svc().conversations.approvals()]}

    @app.post("/v1/operator/approvals/{conversation}")
    async def answer(conversation: str, key: Operator, body: Answer, request: Request) -> dict[str, Any]:
        s = svc()
        record = queued(s, conversation)
        if not record.get("approval"):
            raise ApiError(409, "no_approval", "no approval waits in this conversation")
        if body.type not in ("accept", "reject"):
            raise ApiError(400, "bad_answer", f"unknown answer type {body.type!r}", "Use accept or reject.")
        job = Job(conversation=conversation, spec=record["spec"], action="resume", payload={"type": body.type})
        return await s.run(job, request)


def _event_stream(s: Services, job: Job) -> StreamingResponse:
    events = s.stream(job)

    async def body() -> AsyncIterator[str]:
        async for event in events:
            yield sse(event)

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A conversation record as clients see it (not its owner's key id, not its transcript digest)."""
    return {k: record.get(k) for k in ("id", "spec", "created", "updated", "user_id", "holder", "handoff", "approval")}


def _history(s: Services, record: dict[str, Any]) -> list[dict[str, Any]]:
    return visible_messages(_state_of(s, record, "messages"))


def _state_of(s: Services, record: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """A field of the conversation's last checkpoint, read without a model (the trace, the messages)."""
    from agentspec.server.history import read_checkpoint

    return read_checkpoint(s.backing, record["id"]).get(field, [])
