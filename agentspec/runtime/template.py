"""Chat templates: turn a list of messages into the exact prompt text a model was trained on.

We render the template ourselves (rather than letting each backend do it) so that every backend sees
byte-identical prompts: that is what makes in-process, transformers and server replies comparable.
Templates are the Jinja strings models ship in their GGUF metadata (``tokenizer.chat_template``); a
base model without one (Gemma-3-270M) gets an explicit template from ``agentspec/prompts``. Never
fall back silently to a generic format: a wrong template quietly ruins every reply.

Control tokens: the rendered prompt is tokenized with special-token parsing on (the template's own
``<|im_start|>`` must become the control token), so the text of a control token inside a message
would become that token too: a customer could forge a system or tool turn. ``render`` therefore
breaks every control-token text found in a message's content (``control_tokens``: the backend reads
them from the tokenizer) with a zero-width space after its first character (``neutralize``): the
model reads the same characters as ordinary text, and no token of a message's content is a control
token. Only message content is changed; the template's own text is not.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from agentspec.runtime.base import Message

__all__ = ["COMMON_CONTROL_TOKENS", "ChatTemplate", "ZERO_WIDTH_SPACE", "neutralize", "packaged_template"]

ZERO_WIDTH_SPACE = "\u200b"
# The control-token texts of the common chat templates (ChatML, Llama 3, Gemma, Mistral, Phi, Zephyr): a
# backend that cannot read its tokenizer's (a server's) breaks these in message content.
COMMON_CONTROL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|im_sep|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|system|>",
    "<|user|>", "<|assistant|>", "<|end|>", "<|tool|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>",
    "<s>", "</s>", "[INST]", "[/INST]", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
)


class ChatTemplate:
    """A compiled Jinja chat template with the special tokens it refers to."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "", stop: tuple[str, ...] = (),
                 control_tokens: Iterable[str] = ()):
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        # Strings that end an assistant turn (besides the model's EOS token).
        self.stop = stop
        # The texts of the tokenizer's control tokens, neutralized in message content (module docstring).
        self.control_tokens = tuple(sorted({t for t in control_tokens if t}, key=lambda t: (-len(t), t)))
        self._control = _control_pattern(self.control_tokens)
        self._template = _compile(source)

    def render(self, messages: list[Message], *, add_generation_prompt: bool = True) -> str:
        """The prompt text of ``messages``; control-token text in their content is neutralized."""
        if self._control is not None:
            messages = [{**m, "content": _neutralized(m["content"], self._control)}
                        if isinstance(m.get("content"), str) else m for m in messages]
        return self._template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )


def neutralize(text: str, control_tokens: tuple[str, ...]) -> str:
    """``text`` with each occurrence of a control token's text broken by a zero-width space after its
    first character (a one-character control token is replaced by U+FFFD); unchanged if none occurs."""
    pattern = _control_pattern(control_tokens)
    if pattern is None:
        return text
    return _neutralized(text, pattern)


@lru_cache(maxsize=4096)  # a conversation's earlier messages are rendered again at every step
def _neutralized(text: str, pattern: re.Pattern[str]) -> str:
    def broken(match: re.Match[str]) -> str:
        token = match.group(0)
        return token[0] + ZERO_WIDTH_SPACE + token[1:] if len(token) > 1 else "\ufffd"

    # Overlapping occurrences ("<|a|<|a|>" style) can survive one pass; inserting never makes a new one.
    while pattern.search(text):
        text = pattern.sub(broken, text)
    return text


@lru_cache(maxsize=16)
def _control_pattern(control_tokens: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for the tokens (longest first); a lookahead on their first characters keeps it fast."""
    tokens = sorted({t for t in control_tokens if t}, key=lambda t: (-len(t), t))
    if not tokens:
        return None
    firsts = "".join(sorted({re.escape(t[0]) for t in tokens}))
    return re.compile(f"(?=[{firsts}])(?:{'|'.join(map(re.escape, tokens))})")


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
