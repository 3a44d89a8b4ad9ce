"""Chat templates: turn a list of messages into the exact prompt text a model was trained on.

We render the template ourselves (rather than letting each backend do it) so that every backend sees
byte-identical prompts: that is what makes in-process, transformers and server replies comparable.
Templates are the Jinja strings models ship in their GGUF metadata (``tokenizer.chat_template``); a
base model without one (Gemma-3-270M) gets an explicit template from ``agentspec/prompts``. Never
fall back silently to a generic format: a wrong template quietly ruins every reply.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from agentspec.runtime.base import Message

__all__ = ["ChatTemplate", "packaged_template"]


class ChatTemplate:
    """A compiled Jinja chat template with the special tokens it refers to."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "", stop: tuple[str, ...] = ()):
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        # Strings that end an assistant turn (besides the model's EOS token).
        self.stop = stop
        self._template = _compile(source)

    def render(self, messages: list[Message], *, add_generation_prompt: bool = True) -> str:
        return self._template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )


@lru_cache(maxsize=16)
def _compile(source: str) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(f"chat template error: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


def packaged_template(name: str) -> str:
    """The source of a template shipped in ``agentspec/prompts`` (e.g. ``gemma3.chat.j2``)."""
    return resources.files("agentspec.prompts").joinpath(name).read_text(encoding="utf-8")
