"""The default backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

- Prompts are rendered with the model's own chat template (``agentspec.runtime.template``); a model
  that ships none must be given one, never a silent generic format.
- Prefix KV-cache reuse: one ``Llama`` object keeps the KV state of the last prompt + reply, and
  llama-cpp-python's ``generate`` re-evaluates only the tokens after the longest common prefix. Turn
  N+1 of a conversation therefore pays for its new tokens only. ``Usage.cached_tokens`` reports how
  many prompt tokens were reused.
- Sampling is explicit and seeded (min_p and repeat penalty off) so that the same settings give the
  same tokens here, on a llama.cpp server, and across runs.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

from agentspec.errors import AgentSpecError, ModelFileError
from agentspec.runtime.base import (
    Completion,
    GenerationSettings,
    Message,
    TokenStream,
    fit_messages,
)
from agentspec.runtime.models import BundledModel, resolve_model
from agentspec.runtime.template import ChatTemplate, packaged_template

__all__ = ["LlamaCppChatModel", "load_llama"]


def load_llama(path: Path, *, n_ctx: int, n_threads: int, seed: int, n_batch: int = 512) -> Any:
    """Load a GGUF with llama.cpp. Tests of the fast tier replace this to forbid real models."""
    import llama_cpp

    try:
        return llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
            n_batch=n_batch, seed=seed, verbose=False,
        )
    except ValueError as exc:  # llama.cpp says only "Failed to load model from file"
        raise ModelFileError(
            f"llama.cpp could not load {path}: {exc}",
            hint="The file may be truncated or of an architecture this llama.cpp build does not know.",
        ) from exc


class LlamaCppChatModel:
    """A ``ChatModel`` backed by an in-process ``llama_cpp.Llama``."""

    backend = "llamacpp"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        seed: int = 0,
        chat_template: str | None = None,
        default_settings: GenerationSettings | None = None,
    ):
        path, entry = resolve_model(model)
        self.path = path
        self.name = entry.name if entry else path.name
        self.n_threads = n_threads or os.cpu_count() or 1
        self.llm = load_llama(path, n_ctx=n_ctx, n_threads=self.n_threads, seed=seed)
        self.context_length = int(self.llm.n_ctx())
        self.default_settings = default_settings or GenerationSettings()
        self.template = _template_for(self.llm, entry, chat_template, path)

    # -- tokens -------------------------------------------------------------------------------

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        text = self.template.render(messages, add_generation_prompt=True)
        # The template may already render BOS (Gemma's does); never add a second one.
        add_bos = not (self.template.bos_token and text.startswith(self.template.bos_token))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def fit(self, messages: list[Message], max_tokens: int) -> tuple[list[int], int]:
        """Tokens of the prompt after the context policy, and how many messages were dropped."""
        budget = self.context_length - max_tokens
        fitted, dropped = fit_messages(messages, lambda m: len(self.prompt_tokens(m)), budget)
        return self.prompt_tokens(fitted), dropped

    # -- generation ---------------------------------------------------------------------------

    def stream(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> TokenStream:
        started = time.perf_counter()
        settings = settings or self.default_settings
        max_tokens = min(settings.max_tokens, self.context_length // 2)
        tokens, dropped = self.fit(messages, max_tokens)
        cached = _common_prefix(self.llm._input_ids[: self.llm.n_tokens].tolist(), tokens)
        # llama-cpp-python re-evaluates at least the last prompt token even on a full match.
        cached = min(cached, len(tokens) - 1)
        pieces = self._generate(tokens, settings, max_tokens, hooks.get("logits_processor"))
        return TokenStream(
            pieces, prompt_tokens=len(tokens), cached_tokens=cached, dropped_messages=dropped,
            max_tokens=max_tokens, started=started,
        )

    def complete(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> Completion:
        return self.stream(messages, settings, **hooks).read()

    def _generate(
        self, tokens: list[int], s: GenerationSettings, max_tokens: int, logits_processor: Any
    ) -> Iterator[tuple[str, int]]:
        chunks = self.llm.create_completion(
            prompt=tokens, max_tokens=max_tokens, temperature=s.temperature, top_p=s.top_p,
            top_k=s.top_k, min_p=0.0, repeat_penalty=1.0, seed=s.seed, stop=list(s.stop) or None,
            stream=True, logits_processor=logits_processor,
        )
        try:
            for chunk in chunks:
                text = chunk["choices"][0]["text"]
                # One chunk per sampled token, except at the end where held-back text is flushed.
                if text or chunk["choices"][0].get("finish_reason") is None:
                    yield text, 1
        finally:
            chunks.close()


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _template_for(llm: Any, entry: BundledModel | None, override: str | None, path: Path) -> ChatTemplate:
    meta = llm.metadata or {}
    source = override
    if source is None and entry is not None and entry.chat_template:
        source = packaged_template(entry.chat_template)
    if source is None:
        source = meta.get("tokenizer.chat_template")
    if not source:
        raise AgentSpecError(
            f"{path.name} has no chat template (probably a base model), so prompts cannot be formatted.",
            hint="Give one in the spec or with --chat-template FILE (a Jinja template).",
            code="no_chat_template",
        )
    bos = _token_text(llm, llm.token_bos())
    eos = _token_text(llm, llm.token_eos())
    return ChatTemplate(source, bos_token=bos, eos_token=eos)


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    return llm._model.token_get_text(token)
