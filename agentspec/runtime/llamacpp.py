"""The default backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

- Prompts are rendered with the model's own chat template (``agentspec.runtime.template``); a model
  that ships none must be given one, never a silent generic format.
- Prefix KV-cache reuse: one ``Llama`` object keeps the KV state of the last prompt, and
  llama-cpp-python's ``generate`` re-evaluates only the tokens after the longest common prefix. Turn
  N+1 of a conversation pays for the last reply and its new message only, not the history.
  ``Usage.cached_tokens`` reports how many prompt tokens were reused. The reply's own KV entries are
  dropped after each turn (see ``_keep_prompt_only``): that keeps cached turns bit-identical to
  fresh computations.
- Sampling is explicit and seeded (min_p and repeat penalty off) so that the same settings give the
  same tokens here, on a llama.cpp server, and across runs.
- Control tokens: the prompt is tokenized with ``special=True`` (the template's markers are control
  tokens), so the template neutralizes control-token text inside messages (``control_token_texts``;
  ``agentspec.runtime.template``): no token of a message's content is a control token.
- LoRA adapters (GGUF, from ``agentspec train export``): ``adapters=[{"name", "path", "scale"}]`` loads
  each once with llama.cpp's low-level API; ``set_adapter(name | None)`` switches the active one
  without reloading the model and empties the KV cache, whose keys/values were computed under the
  previous weights. The first adapter given is active after loading unless ``active_adapter`` says
  otherwise. Adapters are freed with the model (llama.cpp owns them).
"""
from __future__ import annotations

import codecs
import ctypes
import os
import time
from pathlib import Path
from typing import Any, Iterator

from agentspec.errors import AgentSpecError, ModelFileError
from agentspec.runtime.base import (
    Completion,
    common_prefix_length,
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
        n_ctx: int = 4096,  # KV cache ~95 MB (f16); agent specs ask for more where they need it
        n_threads: int | None = None,
        seed: int = 0,
        chat_template: str | None = None,
        default_settings: GenerationSettings | None = None,
        adapters: list[dict[str, Any]] | None = None,
        active_adapter: str | None = "",
    ):
        path, entry = resolve_model(model)
        self.path = path
        self.name = entry.name if entry else path.name
        self.n_threads = n_threads or os.cpu_count() or 1
        self.llm = load_llama(path, n_ctx=n_ctx, n_threads=self.n_threads, seed=seed)
        self.context_length = int(self.llm.n_ctx())
        self.default_settings = default_settings or GenerationSettings()
        self.template = _template_for(self.llm, entry, chat_template, path)
        self._adapters: dict[str, tuple[Any, float]] = {}  # name -> (llama_adapter_lora pointer, scale)
        self.active_adapter: str | None = None
        for spec in adapters or []:
            self.load_adapter(spec["path"], name=spec.get("name"), scale=float(spec.get("scale", 1.0)))
        if self._adapters:
            self.set_adapter(next(iter(self._adapters)) if active_adapter == "" else active_adapter)

    # -- LoRA adapters ------------------------------------------------------------------------

    @property
    def adapter_names(self) -> list[str]:
        return list(self._adapters)

    def load_adapter(self, path: str | os.PathLike[str], *, name: str | None = None, scale: float = 1.0) -> str:
        """Load a GGUF LoRA adapter for this model (not activated); returns its name."""
        import llama_cpp

        path = Path(path)
        name = name or path.stem
        if name in self._adapters:
            raise AgentSpecError(f"An adapter named {name!r} is already loaded.", hint="Give each adapter its own name.",
                                 code="adapter_name")
        if not path.is_file():
            raise ModelFileError(f"LoRA adapter not found: {path}",
                                 hint="Export one with `agentspec train export ADAPTER_DIR --out DIR`.")
        pointer = llama_cpp.llama_adapter_lora_init(self.llm.model, str(path).encode("utf-8"))
        if not pointer:
            raise ModelFileError(
                f"llama.cpp could not load the LoRA adapter {path} for {self.name}.",
                hint="It must be a GGUF LoRA adapter trained on this base model (same architecture and shapes).",
            )
        self._adapters[name] = (pointer, scale)
        return name

    def set_adapter(self, name: str | None) -> None:
        """Make ``name`` the only active adapter (None: the plain base model). Clears the KV cache."""
        import llama_cpp

        if name == self.active_adapter:
            return
        if name is not None and name not in self._adapters:
            raise AgentSpecError(f"No adapter named {name!r} is loaded.",
                                 hint=f"Loaded: {', '.join(self._adapters) or 'none'}.", code="adapter_name")
        if name is None:
            rc = llama_cpp.llama_set_adapters_lora(self.llm.ctx, None, 0, None)
        else:
            pointer, scale = self._adapters[name]
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(pointer)
            scales = (ctypes.c_float * 1)(scale)
            rc = llama_cpp.llama_set_adapters_lora(self.llm.ctx, arr, 1, scales)
        if rc != 0:
            raise AgentSpecError(f"llama.cpp refused to activate adapter {name!r} (code {rc}).",
                                 hint="Reload the model with this adapter alone to see llama.cpp's message.",
                                 code="adapter_activate")
        self.active_adapter = name
        # Cached keys/values were computed under the previous weights: the next prompt is evaluated afresh.
        self.llm.reset()

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
        tokens = self.prompt_tokens(messages)
        if len(tokens) <= budget:  # the usual case: render and tokenize once
            return tokens, 0
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
        cached = common_prefix_length(self.llm._input_ids[: self.llm.n_tokens].tolist(), tokens)
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
        """Sample up to ``max_tokens`` tokens; yield ``(text delta, 1)`` per sampled token.

        Drives llama-cpp-python's token generator itself rather than ``create_completion``, whose
        stream has one chunk per decodable piece of text, not per token: the tokens of a multi-byte
        character (CJK, emoji) come out merged, so counting chunks under-counted them, and it
        samples past ``max_tokens`` to complete a character, so a cut reply looked finished
        ("stop"). Here every sampled token but the end-of-generation one is counted once, and
        generation ends at exactly ``max_tokens`` (``TokenStream`` then says "length").

        Text: bytes go through an incremental UTF-8 decoder, so a delta is "" while a character
        is incomplete; bytes of a character cut off at ``max_tokens`` (or invalid UTF-8) are dropped,
        as ``create_completion`` does. Stop strings: text that could begin one is held back until
        it cannot; the reply ends before the first stop string, which is not shown (its tokens
        were sampled, so they count).
        """
        llm = self.llm
        stops = [stop for stop in s.stop if stop]
        llm.set_seed(s.seed)  # the sampler seeds its RNG from this when it is built, as create_completion does
        generator = llm.generate(
            tokens, top_k=s.top_k, top_p=s.top_p, min_p=0.0, typical_p=1.0, temp=s.temperature,
            repeat_penalty=1.0, logits_processor=logits_processor,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        text, sent, n = "", 0, 0  # decoded reply, how much of it was yielded, tokens sampled
        try:
            while n < max_tokens:
                token = next(generator, None)
                if token is None or _is_eog(llm, token):
                    break
                n += 1
                text += decoder.decode(llm.detokenize([token]), final=n == max_tokens)
                end = _stop_position(text, stops, sent)
                if end is not None:
                    yield text[sent:end], 1
                    return
                keep = len(text) - _stop_prefix_length(text, stops, sent) if n < max_tokens else len(text)
                yield text[sent:keep], 1
                sent = keep
            else:
                return  # max_tokens reached; the final decode flushed everything
            # End of generation: flush a held-back stop-string prefix and undecodable bytes.
            text += decoder.decode(b"", final=True)
            if len(text) > sent:
                yield text[sent:], 0
        finally:
            generator.close()
            self._keep_prompt_only(len(tokens))

    def _keep_prompt_only(self, n_prompt: int) -> None:
        """Drop the reply's KV entries, keep the prompt's.

        Tokens decoded one at a time get slightly different keys/values than the same tokens
        evaluated in a batch (llama.cpp's kernels round differently: logits differed by up to 0.7 in
        a probe). A next turn that reused them could then differ from a fresh computation even when
        greedy. Recomputing the reply in the next turn's batch costs a few dozen tokens and makes
        cached turns exactly equal to fresh ones (tests/real: cached == fresh).
        """
        if self.llm.n_tokens > n_prompt:
            self.llm.n_tokens = n_prompt  # llama-cpp-python's next eval removes the KV cells past this
            # The context's logits are now the last reply token's, not the prompt's: without this an
            # identical next prompt would be sampled from them ("exact prompt cached" shortcut).
            self.llm._requires_eval = True



def _is_eog(llm: Any, token: int) -> bool:
    """Whether ``token`` ends generation (EOS, EOT, ...): it is not part of the reply."""
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))


def _stop_position(text: str, stops: list[str], start: int) -> int | None:
    """Where the first stop string in ``text[start:]`` begins, or None."""
    found = [i for i in (text.find(stop, start) for stop in stops) if i >= 0]
    return min(found) if found else None


def _stop_prefix_length(text: str, stops: list[str], start: int) -> int:
    """Length of the longest end of ``text[start:]`` that is the beginning of a stop string."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text) - start), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest


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
    return ChatTemplate(source, bos_token=bos, eos_token=eos, control_tokens=control_token_texts(llm))


def control_token_texts(llm: Any) -> list[str]:
    """The texts that ``tokenize(..., special=True)`` turns into control (or unknown) tokens.

    llama.cpp matches user-defined tokens with or without ``special``; parsing special tokens adds
    exactly the CONTROL and UNKNOWN ones. One pass over the vocabulary (~20 ms for 49k tokens).
    """
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    return [_token_text(llm, token) for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
            if llama_cpp.llama_vocab_get_attr(vocab, token) & special]


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    return llm._model.token_get_text(token)
