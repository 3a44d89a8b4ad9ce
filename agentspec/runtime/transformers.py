"""Hugging Face backend: a causal LM run by transformers on CPU or GPU.

Loads either a Hugging Face model folder (``config.json`` inside) or a GGUF file, which transformers
dequantizes to full precision (``gguf_file=``). Dequantizing takes seconds to tens of seconds, so the
result is cached once as safetensors under ``$AGENTSPEC_HOME/models/hf/`` and loaded from there next
time. Prompts use the same chat template as the llama.cpp backend (read from the GGUF metadata).

Generation is a plain loop over ``model(...)`` with a ``DynamicCache``: it gives token streaming,
seeded sampling with ``torch.Generator``, and prefix KV reuse across turns (the cache is cropped to the
longest common prefix with the new prompt), like the llama.cpp backend. Runs unchanged on CUDA.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from agentspec.errors import BackendUnavailableError
from agentspec.runtime.base import (
    Completion,
    GenerationSettings,
    Message,
    TokenStream,
    common_prefix_length,
    fit_messages,
)
from agentspec.runtime.models import BundledModel, cache_dir, gguf_metadata, resolve_model
from agentspec.runtime.template import ChatTemplate, packaged_template

__all__ = ["TransformersChatModel", "load_hf"]


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ModuleNotFoundError as exc:
        raise BackendUnavailableError(
            f"The transformers backend needs torch and transformers ({exc.name} is missing).",
            hint="pip install 'agentspec[transformers]'",
        ) from exc
    return torch


def load_hf(path: Path, device: str, dtype: Any) -> tuple[Any, Any]:
    """(model, tokenizer) from a HF folder or a GGUF file. Tests of the fast tier replace this."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path.is_dir():
        folder = path
    else:
        stat = path.stat()
        key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        folder = cache_dir() / "hf" / f"{path.stem}-{key}"
        if not (folder / "config.json").exists():
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            model.hf_quantizer = None  # save_pretrained refuses a "quantized" model otherwise
            # One partial folder per process: two processes converting the same GGUF at once must not
            # write into each other's files; the first to finish provides the cache, the other's is dropped.
            partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
            model.save_pretrained(partial)
            tokenizer.save_pretrained(partial)
            try:
                os.replace(partial, folder)
            except OSError:
                if not (folder / "config.json").exists():
                    raise
                shutil.rmtree(partial, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return model, tokenizer


class TransformersChatModel:
    """A ``ChatModel`` backed by a transformers causal LM."""

    backend = "transformers"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        n_ctx: int = 8192,
        seed: int = 0,
        chat_template: str | None = None,
        default_settings: GenerationSettings | None = None,
    ):
        torch = _import_torch()
        self._torch = torch
        given = Path(str(model)) if model is not None else None
        if given is not None and given.is_dir():
            path, entry, meta = given, None, {}
        else:
            path, entry = resolve_model(model)
            meta = gguf_metadata(path)
        self.path = path
        self.name = entry.name if entry else path.name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        self.model, self.tokenizer = load_hf(path, self.device, torch_dtype)
        limit = int(getattr(self.model.config, "max_position_embeddings", n_ctx) or n_ctx)
        self.context_length = min(n_ctx, limit)
        self.seed = seed
        self.default_settings = default_settings or GenerationSettings()
        self.template = self._template(entry, chat_template, meta)
        self._eos_ids = self._stop_ids()
        import inspect

        self._new_cache_kwarg = "cache" in inspect.signature(self.model.forward).parameters
        self._kv: Any = None
        self._kv_ids: list[int] = []  # the tokens whose keys/values are in self._kv

    def _template(self, entry: BundledModel | None, override: str | None, meta: dict[str, Any]) -> ChatTemplate:
        source = override
        if source is None and entry is not None and entry.chat_template:
            source = packaged_template(entry.chat_template)
        source = source or meta.get("tokenizer.chat_template") or getattr(self.tokenizer, "chat_template", None)
        if not source:
            from agentspec.errors import AgentSpecError

            raise AgentSpecError(
                f"{self.path.name} has no chat template.", hint="Give one with chat_template=...",
                code="no_chat_template",
            )
        tok = self.tokenizer
        # The tokenizer matches its special added tokens in any text: neutralized in message content.
        control = [t.content for t in getattr(tok, "added_tokens_decoder", {}).values() if t.special]
        return ChatTemplate(source, bos_token=tok.bos_token or "", eos_token=tok.eos_token or "",
                            control_tokens=[*control, *tok.all_special_tokens])

    def _stop_ids(self) -> set[int]:
        ids = set()
        eos = self.model.generation_config.eos_token_id if self.model.generation_config else None
        for value in (eos, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(value)
        for text in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"):
            tid = self.tokenizer.convert_tokens_to_ids(text)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        return ids

    # -- tokens -------------------------------------------------------------------------------

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        text = self.template.render(messages, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generation ---------------------------------------------------------------------------

    def stream(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> TokenStream:
        started = time.perf_counter()
        s = settings or self.default_settings
        max_tokens = min(s.max_tokens, self.context_length // 2)
        budget = self.context_length - max_tokens
        ids, dropped = self.prompt_tokens(messages), 0
        if len(ids) > budget:  # render and tokenize a second time only when turns must go
            fitted, dropped = fit_messages(messages, lambda m: len(self.prompt_tokens(m)), budget)
            ids = self.prompt_tokens(fitted)
        cached = min(common_prefix_length(self._kv_ids, ids), len(ids) - 1)
        pieces = self._generate(ids, cached, s, max_tokens, hooks.get("logits_processor"))
        return TokenStream(
            pieces, prompt_tokens=len(ids), cached_tokens=cached, dropped_messages=dropped,
            max_tokens=max_tokens, started=started,
        )

    def complete(
        self, messages: list[Message], settings: GenerationSettings | None = None, **hooks: Any
    ) -> Completion:
        return self.stream(messages, settings, **hooks).read()

    def _forward(self, new_ids: list[int]) -> Any:
        torch = self._torch
        kv_arg = "cache" if self._new_cache_kwarg else "past_key_values"  # renamed in transformers 5.x
        out = self.model(input_ids=torch.tensor([new_ids], device=self.device), use_cache=True, **{kv_arg: self._kv})
        self._kv = getattr(out, "cache", None) or out.past_key_values
        self._kv_ids.extend(new_ids)  # only after the forward pass succeeded
        return out.logits[0, -1].float()

    def _generate(
        self, ids: list[int], cached: int, s: GenerationSettings, max_tokens: int, logits_processor: Any
    ) -> Iterator[tuple[str, int]]:
        torch = self._torch
        from transformers import DynamicCache

        generator = torch.Generator(device=self.device).manual_seed(s.seed)
        with torch.inference_mode():
            # 1. Reuse the KV state of the common prefix; recompute the rest of the prompt.
            if cached > 0 and self._kv is not None:
                # A negative argument means "remove this many tokens" in every transformers version.
                self._kv.crop(cached - self._kv.get_seq_length())
                del self._kv_ids[cached:]
            else:
                self._kv, self._kv_ids, cached = DynamicCache(), [], 0
            logits = self._forward(ids[cached:])
            # 2. Sample token by token; yield text deltas as soon as they are complete characters.
            out_ids: list[int] = []
            emitted = ""
            for _ in range(max_tokens):
                if logits_processor is not None:
                    logits = logits_processor(ids + out_ids, logits)
                token = _sample(torch, logits, s, generator)
                if token in self._eos_ids:
                    break
                out_ids.append(token)
                text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
                delta = text[len(emitted):] if not text.endswith("\ufffd") else ""
                emitted += delta
                if s.stop and any(stop in emitted for stop in s.stop):
                    break
                yield delta, 1
                logits = self._forward([token])


def _sample(torch: Any, logits: Any, s: GenerationSettings, generator: Any) -> int:
    if s.temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / s.temperature
    if s.top_k > 0:
        kth = torch.topk(logits, min(s.top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if s.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < s.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))

