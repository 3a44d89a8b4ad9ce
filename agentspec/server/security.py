"""Who may call the server and how much: API-key auth, per-key rate limits, body size limits, errors.

Contract:
- ``ApiError(status, code, message, hint)`` is every refusal; ``error_body`` renders it as
  ``{"error": {"code", "message", "hint"}}`` (OpenAI clients read ``error.message``). Responses never
  carry a stack trace.
- ``authenticate(request, keys, role)`` reads ``Authorization: Bearer KEY``: none or an unknown key is
  401, a key of another role is 403 (an operator key is not an integration key, and the other way).
- ``RateLimiter(per_minute)``: a token bucket per key (burst = ``per_minute``); an empty bucket is 429
  with the seconds until the next token in ``Retry-After``. Buckets are per process (per replica).
- ``BodyLimit``: an ASGI middleware answering 413 to a body over ``max_bytes`` (declared or streamed).
"""
from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from agentspec.server.keys import ApiKey, KeyRing

__all__ = ["ApiError", "BodyLimit", "RateLimiter", "authenticate", "error_body"]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, hint: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint
        self.headers = headers or {}


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **({"hint": hint} if hint else {})}}


def authenticate(request: Any, keys: KeyRing, role: str) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_key", "no API key: send 'Authorization: Bearer KEY'",
                       "`agentspec keys add NAME --role integration` issues one.",
                       headers={"WWW-Authenticate": "Bearer"})
    key = keys.verify(token.strip())
    if key is None:
        raise ApiError(401, "bad_key", "this API key is not valid (unknown or revoked)",
                       "`agentspec keys list` shows the keys issued.", headers={"WWW-Authenticate": "Bearer"})
    if key.role != role:
        raise ApiError(403, "wrong_role", f"this endpoint needs an {role} key; key {key.name!r} is an {key.role} key")
    return key


class RateLimiter:
    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill time)
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0  # tokens per second
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise ApiError(429, "rate_limited", f"more than {self.per_minute} requests a minute with this key",
                               f"Retry after {wait} s.", headers={"Retry-After": str(wait)})
            self._buckets[key_id] = (tokens - 1.0, now)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before any handler reads it whole."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # Read the whole body first (it is small by definition), then replay it to the app.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(error_body("body_too_large", f"the request body is over {self.max_bytes} bytes",
                                     "Send a shorter message.")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
