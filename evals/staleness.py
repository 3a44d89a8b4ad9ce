"""The perplexity monitor of indexed documents: which new or changed documents surprise the model.

``monitor_documents(index, documents, scorer, ratio=1.5, window=None, on_document=None) -> dict``:

1. Every document of ``documents`` that the index holds and that has no perplexity recorded for this
   model (``scorer.name`` and its active adapter) at its current content is scored with
   ``perplexity([text], scorer)``: new and changed documents, and all of them the first time.
2. The values are recorded in the index (``DocumentIndex.record_scores``, keyed by the content hash:
   an edited document is scored again, an unchanged one never).
3. The reference is the median perplexity of all indexed documents under this model; a document
   scored now is **flagged** when its perplexity is above ``ratio`` x that median: the model finds it
   surprising (new vocabulary, new facts), a sign that its knowledge is stale for that document and
   that retrieval (or training) should cover it.

Returns ``{"model", "adapter", "ratio", "median", "scored": {source: ppl}, "flagged": [sources],
"documents": {source: ppl}}`` (``documents``: every indexed document's recorded value).
Perplexities are per document, over its whole text (``window``: tokens per window, default the
model's context), so they compare documents under one model only.

Not here: loading the model (``perplexity.load_scorer``), indexing (``agentspec.memory.documents``).
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from agentspec.memory.documents import Document, DocumentIndex

from .perplexity import Scorer, perplexity

__all__ = ["monitor_documents", "score_name"]


def score_name(scorer: Scorer) -> str:
    """The key of a scorer's values in the index: model name and active adapter."""
    return f"perplexity:{scorer.name}:{getattr(scorer, 'adapter', None) or 'base'}"


def monitor_documents(index: DocumentIndex, documents: Sequence[Document], scorer: Scorer, *, ratio: float = 1.5,
                      window: int | None = None,
                      on_document: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Score the documents not yet scored at their current content, then flag the surprising ones."""
    if ratio <= 0:
        raise ValueError(f"ratio must be positive, got {ratio}")
    name = score_name(scorer)
    indexed = index.documents()
    known = index.scores(name)
    scored: dict[str, float] = {}
    for document in documents:
        if document.source not in indexed or document.source in known:
            continue
        value = perplexity([document.text], scorer, window=window).perplexity
        scored[document.source] = value
        index.record_scores(name, {document.source: value})  # saved as it goes: an interrupted run keeps it
        if on_document:
            on_document(document.source, value)
    values = index.scores(name)
    median = statistics.median(values.values()) if values else None
    flagged = sorted(s for s, v in scored.items() if median is not None and v > ratio * median)
    return {"model": scorer.name, "adapter": getattr(scorer, "adapter", None), "ratio": ratio, "median": median,
            "scored": scored, "flagged": flagged, "documents": dict(sorted(values.items()))}
