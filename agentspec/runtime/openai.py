"""Any OpenAI-compatible chat endpoint (vLLM, llama-server, llama_cpp.server, ...).

The path for users who outgrow one machine: the same ``ChatModel`` protocol over HTTP. Requests use
``/v1/chat/completions`` with ``stream: true`` and server-sent events; llama.cpp/vLLM sampling extras
(``top_k``, ``min_p``, ``repeat_penalty``) are sent so a llama.cpp server samples exactly like the
in-process backend. An unreachable endpoint or an error answer is an ``EndpointError`` naming the URL.
The server renders the chat template and tokenizes with special tokens on, so control-token text in a
message's content is broken before it is sent (``agentspec.runtime.template.neutralize``): the texts of
``control_tokens``, by default the common chat templates' (``COMMON_CONTROL_TOKENS``); a customer cannot
forge a system or tool turn through the server either.

Not here: prefix caching (the server's business) and token counting beyond what the server reports.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator

from agentspec.errors import EndpointError
from agentspec.runtime.base import Completion, GenerationSettings, Message, TokenStream
from agentspec.runtime.template import COMMON_CONTROL_TOKENS, neutralize

__all__ = ["OpenAIChatModel"]


class OpenAIChatModel:
    """A ``ChatModel`` that talks to an OpenAI-compatible server."""

    backend = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        context_length: int = 8192,
        timeout_s: float = 120.0,
        default_settings: GenerationSettings | None = None,
        control_tokens: list[str] | tuple[str, ...] | None = None,
    ):
        import httpx

        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip("/")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
        self.name = model or "default"
        self.context_length = context_length
        self.default_settings = default_settings or GenerationSettings()
        self.control_tokens = tuple(COMMON_CONTROL_TOKENS if control_tokens is None else control_tokens)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    def count_tokens(self, text: str) -> int:
        # Without the server's tokenizer, estimate (~4 characters per token for English text).
        return max(1, len(text) // 4)

    def request_body(self, messages: list[Message], s: GenerationSettings, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{**m, "content": neutralize(m["content"], self.control_tokens)}
                         if isinstance(m.get("content"), str) else m for m in messages],
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
            # llama.cpp / vLLM extensions; other servers ignore unknown fields.
            "top_k": s.top_k,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
        }
        if s.stop:
            body["stop"] = list(s.stop)
        body.update(extra)
        return body

    def stream(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> TokenStream:
        started = time.perf_counter()
        settings = settings or self.default_settings
        body = self.request_body(messages, settings, **hooks.get("extra_body", {}))
        usage: dict[str, int] = {}
        pieces = self._events(body, usage)
        return TokenStream(
            pieces, prompt_tokens=0, max_tokens=settings.max_tokens, started=started, reported_usage=usage
        )

    def complete(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> Completion:
        return self.stream(messages, settings, **hooks).read()

    def _events(self, body: dict[str, Any], usage: dict[str, int]) -> Iterator[tuple[str, int]]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    detail = response.read().decode("utf-8", "replace")[:500]
                    raise EndpointError(
                        f"{url} answered HTTP {response.status_code}: {detail}",
                        hint="Check the model name and request settings the server accepts.",
                    )
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if event.get("usage"):
                        usage.update({k: v for k, v in event["usage"].items() if isinstance(v, int)})
                    for choice in event.get("choices", []):
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            yield delta, 1
        except httpx.TransportError as exc:
            raise EndpointError(
                f"Cannot reach the OpenAI-compatible endpoint {self.base_url} ({type(exc).__name__}: {exc}).",
                hint="Start the server (e.g. `python -m llama_cpp.server --model M.gguf`) or fix --base-url.",
            ) from exc
