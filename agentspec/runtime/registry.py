"""Backends by name: ``load_model(backend, model, **options) -> ChatModel``.

Backends are imported lazily, so chatting with a GGUF model never imports torch. Options a backend
does not take are an error naming the options it does take (a typo must not pass silently).
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from agentspec.errors import AgentSpecError, UnknownBackendError
from agentspec.runtime.base import ChatModel

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "backend_class", "load_model"]

DEFAULT_BACKEND = "llamacpp"

# name -> "module:Class"
BACKENDS: dict[str, str] = {
    "llamacpp": "agentspec.runtime.llamacpp:LlamaCppChatModel",
    "transformers": "agentspec.runtime.transformers:TransformersChatModel",
    "openai": "agentspec.runtime.openai:OpenAIChatModel",
    "scripted": "agentspec.runtime.scripted:ScriptedChatModel",
}


def backend_class(name: str) -> type:
    if name not in BACKENDS:
        raise UnknownBackendError(
            f"Unknown backend {name!r}.",
            hint=f"Choose one of: {', '.join(b for b in BACKENDS if b != 'scripted')}.",
        )
    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_model(backend: str | None = None, model: str | None = None, **options: Any) -> ChatModel:
    """Instantiate a backend. ``options`` left as None are dropped (the backend's defaults apply)."""
    cls = backend_class(backend or DEFAULT_BACKEND)
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = set(options) - accepted
    if unknown:
        raise AgentSpecError(
            f"The {backend} backend does not take {', '.join(sorted(unknown))}.",
            hint=f"It takes: {', '.join(sorted(accepted - {'model', 'replies'}))}.",
            code="bad_option",
        )
    if cls.__name__ == "ScriptedChatModel":
        return cls(**options)
    return cls(model, **options)
