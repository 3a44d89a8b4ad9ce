"""A model's perplexity on a text corpus: drift after compression, staleness on new data.

``perplexity(documents, scorer, window=None, stride=None, max_tokens_per_doc=None, on_document=None)
-> PerplexityResult`` with ``perplexity``, ``mean_nll`` (nats per token), ``tokens`` (scored),
``documents``, ``seconds``, ``window``, ``stride``.

What is measured:
1. Each document is tokenized on its own by the model's tokenizer, with the BOS token iff that
   tokenizer adds one (SmolLM2's does not), and special-token text in it is read as plain text.
   ``max_tokens_per_doc`` keeps its first N tokens (BOS included).
2. Every token after the first is scored exactly once: NLL_i = -ln p(t_i | the tokens before it in
   its window). Windows (``windows``) are ``window`` tokens long (default: the model's context) and
   start every ``stride`` tokens (default ``window // 2``); a token is scored in the first window
   that holds it and at least one token before it, so it sees ``min(i, window - stride)`` tokens of
   context or more (and always one). ``stride == window``: windows share one token; cheapest, least
   context.
3. ``mean_nll`` is the token-weighted mean over the whole corpus (not a mean of per-document means);
   ``perplexity = exp(mean_nll)``. A corpus with no token to score raises ``CorpusError``.

Perplexities are comparable only under the same tokenizer, window and stride: a compressed or
LoRA-specialized model against its base, or one model on old and new data. Nothing is sampled: the
same model, adapter, threads and corpus give identical numbers.

Scorers (``Scorer`` protocol: ``name``, ``context_length``, ``tokenize(text)``, ``nll(tokens, first)``):
``LlamaCppScorer`` runs llama.cpp's batch API on an agentspec ``LlamaCppChatModel`` (its active LoRA
adapter applies; its KV cache is emptied before and after, so the model can chat afterwards);
``TransformersScorer`` runs one forward pass per window. ``load_scorer`` builds either from an agent
spec (its model, n_ctx, threads, seed and adapters, so a specialized spec is measured as it runs) or
from a model name. The ``openai`` backend cannot score: endpoints do not return every position's
logits.

Not here: reading or writing corpora (``corpus``); bits per byte (comparisons across tokenizers);
resuming an interrupted measurement.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from agentspec.errors import AgentSpecError

from .corpus import CorpusError

__all__ = ["LlamaCppScorer", "PerplexityResult", "Scorer", "TransformersScorer", "load_scorer", "perplexity",
           "windows"]

# Raw text is scored without a chat template; this one only lets base models (which ship none) load.
_RAW_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


class Scorer(Protocol):
    name: str
    context_length: int

    def tokenize(self, text: str) -> list[int]: ...

    def nll(self, tokens: Sequence[int], first: int) -> Sequence[float]:
        """-ln p(tokens[i] | tokens[:i]) in nats for i = first .. len(tokens) - 1 (first >= 1)."""


@dataclass
class PerplexityResult:
    perplexity: float
    mean_nll: float  # nats per token
    tokens: int  # tokens scored
    documents: int
    seconds: float
    window: int
    stride: int
    model: str = ""
    adapter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first)`` per window of a sequence: feed ``[begin, end)``, score ``[first, end)``."""
    if window < 2 or not 1 <= stride <= window:
        raise ValueError(f"need window >= 2 and 1 <= stride <= window, got {window}, {stride}")
    out, scored_to, begin = [], 1, 0  # position 0 has no context: never scored
    while scored_to < n_tokens:
        end = min(begin + window, n_tokens)
        if end > scored_to:
            out.append((begin, end, scored_to))
            scored_to = end
        # The next window starts stride tokens later, but never after the last scored token: its first
        # target needs one token of context (stride == window: consecutive windows share one token).
        begin = min(begin + stride, scored_to - 1)
    return out


def perplexity(documents: Sequence[str], scorer: Scorer, *, window: int | None = None, stride: int | None = None,
               max_tokens_per_doc: int | None = None,
               on_document: Callable[[int, int], None] | None = None) -> PerplexityResult:
    """Score ``documents`` with ``scorer``; ``on_document(documents done, tokens scored)`` after each."""
    started = time.perf_counter()
    window = window or scorer.context_length
    stride = stride or max(1, window // 2)
    if not 2 <= window <= scorer.context_length:
        raise AgentSpecError(f"window {window} does not fit the model's context of {scorer.context_length} tokens",
                             hint="pass --window between 2 and the context length", code="bad_option")
    if stride > window:
        raise AgentSpecError(f"stride {stride} is longer than the window ({window})",
                             hint="pass --stride at most --window (window // 2 is the default)", code="bad_option")
    sums: list[float] = []
    count = 0
    for done, text in enumerate(documents, start=1):
        tokens = scorer.tokenize(text)[:max_tokens_per_doc or None]
        for begin, end, first in windows(len(tokens), window, stride):
            nll = scorer.nll(tokens[begin:end], first - begin)
            sums.append(math.fsum(float(x) for x in nll))
            count += len(nll)
        if on_document:
            on_document(done, count)
    if count == 0:
        raise CorpusError(f"nothing to score in {len(documents)} document(s): each has at most one token",
                          hint="use documents of several words (the first token has no context to score)")
    mean = math.fsum(sums) / count
    return PerplexityResult(perplexity=math.exp(mean), mean_nll=mean, tokens=count, documents=len(documents),
                            seconds=round(time.perf_counter() - started, 3), window=window, stride=stride,
                            model=scorer.name, adapter=getattr(scorer, "adapter", None))


# ---- scorers ------------------------------------------------------------------------------------

class LlamaCppScorer:
    """Token NLLs from an agentspec ``LlamaCppChatModel`` through llama.cpp's batch API."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = model.name
        self.context_length = model.context_length

    @property
    def adapter(self) -> str | None:
        """The LoRA adapter active now (``model.set_adapter`` switches it)."""
        return self.model.active_adapter

    def tokenize(self, text: str) -> list[int]:
        return self.model.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def nll(self, tokens: Sequence[int], first: int) -> Sequence[float]:
        import numpy as np

        llm = self.model.llm
        n_vocab, n_batch = llm.n_vocab(), llm.n_batch
        out = np.empty(len(tokens) - first, dtype=np.float64)
        # 1. An empty KV cache: nothing from a chat or an earlier window may leak into this one.
        llm.reset()
        llm._ctx.kv_cache_clear()
        try:
            # 2. Feed every token but the last in n_batch chunks; row j of a chunk starting at s holds the
            #    logits [n_vocab] that predict tokens[s + j + 1]. Only rows that predict a scored token
            #    are computed (the output layer is ~20% of a small model's compute per token).
            for start in range(0, len(tokens) - 1, n_batch):
                chunk = list(tokens[start:min(start + n_batch, len(tokens) - 1)])
                lo = max(first - 1 - start, 0)  # first row of this chunk that predicts a scored token
                llm._batch.set_batch(batch=chunk, n_past=start, logits_all=False)
                for j in range(len(chunk)):
                    llm._batch.batch.logits[j] = j >= lo
                if lo >= len(chunk):
                    llm._batch.batch.logits[len(chunk) - 1] = True  # llama.cpp wants one output; unused
                llm._ctx.decode(llm._batch)
                if lo >= len(chunk):
                    continue
                rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(chunk) - lo, n_vocab))
                # 3. NLL = logsumexp(row) - row[target], max-shifted in float32, summed in float64.
                targets = np.asarray(tokens[start + lo + 1:start + len(chunk) + 1])
                top = rows.max(axis=1)
                lse = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
                out[start + lo + 1 - first:start + len(chunk) + 1 - first] = lse - rows[np.arange(len(rows)), targets]
        finally:
            llm._ctx.kv_cache_clear()
            llm.reset()  # the next chat prompt is evaluated from scratch
        return out


class TransformersScorer:
    """Token NLLs from an agentspec ``TransformersChatModel``: one forward pass per window."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = model.name
        self.context_length = model.context_length
        self.adapter = None

    def tokenize(self, text: str) -> list[int]:
        return list(self.model.tokenizer(text, add_special_tokens=True)["input_ids"])

    def nll(self, tokens: Sequence[int], first: int) -> Sequence[float]:
        torch = self.model._torch
        ids = torch.tensor([list(tokens)], device=self.model.device)
        with torch.no_grad():
            logits = self.model.model(ids[:, :-1]).logits[0, first - 1:].float()  # [scored, vocab]
        logp = torch.log_softmax(logits, dim=-1)
        return (-logp.gather(1, ids[0, first:, None])[:, 0]).double().cpu().tolist()


def load_scorer(*, spec: str | None = None, model: str | None = None, backend: str | None = None,
                threads: int | None = None, n_ctx: int | None = None, adapter: str | None = "") -> Scorer:
    """A scorer for an agent spec (its model and adapters) or a model name on ``backend``.

    ``n_ctx`` overrides the context to load (default: the spec's, else 4096); ``adapter`` picks which of
    the spec's adapters is active ("" as the spec runs: its first; None or "none": the base model).
    """
    adapters: list[dict[str, Any]] = []
    seed = 0
    if spec is not None:
        from agentspec.spec import adapter_options, load_spec

        s = load_spec(spec)
        backend, model, seed = s.model.backend, s.model.name, s.model.seed
        threads, n_ctx = threads or s.model.threads, n_ctx or s.model.n_ctx
        adapters = adapter_options(s)
    backend, n_ctx = backend or "llamacpp", n_ctx or 4096
    from agentspec.runtime.registry import backend_class

    backend_class(backend)  # an unknown name: UnknownBackendError with the known ones
    if adapter == "none":
        adapter = None
    if adapter and adapter not in [a["name"] for a in adapters]:
        raise AgentSpecError(f"no adapter named {adapter!r} in the spec",
                             hint=f"the spec's adapters: {', '.join(a['name'] for a in adapters) or 'none'}; "
                                  "or pass --adapter none for the base model", code="adapter_name")
    if backend == "llamacpp":
        from agentspec.runtime.llamacpp import LlamaCppChatModel

        chat = LlamaCppChatModel(model, n_ctx=n_ctx, n_threads=threads, seed=seed, chat_template=_RAW_TEMPLATE,
                                 adapters=adapters or None, active_adapter=adapter)
        return LlamaCppScorer(chat)
    if backend == "transformers":
        if adapters:
            raise AgentSpecError("the spec's LoRA adapters are GGUF files, which only the llamacpp backend applies",
                                 hint="measure the spec with backend llamacpp", code="bad_option")
        from agentspec.runtime.transformers import TransformersChatModel

        chat = TransformersChatModel(model, n_ctx=n_ctx, seed=seed, chat_template=_RAW_TEMPLATE)
        if threads:
            chat._torch.set_num_threads(threads)
        return TransformersScorer(chat)
    raise AgentSpecError(f"the {backend} backend cannot score perplexity: it does not expose every position's logits",
                         hint="use --backend llamacpp (or transformers) with the same model file", code="bad_option")
