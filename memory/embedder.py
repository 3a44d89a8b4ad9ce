"""mem0's embedder interface over the packaged MiniLM (``agentspec.routing.encoder``): offline, no torch.

``MiniLMEmbedding(encoder=None)``: ``embed(text, action) -> list[float]`` (384 values, L2-normalised,
sentence-transformers' all-MiniLM-L6-v2 output), ``embed_batch(texts)``; ``dims``. The encoder loads on
first use (about 1 s) and caches recent texts, so a message embedded for the reader costs nothing here.
"""
from __future__ import annotations

from typing import Any

from agentspec.memory._mem0 import EmbeddingBase

__all__ = ["MiniLMEmbedding"]


class MiniLMEmbedding(EmbeddingBase):
    dims = 384

    def __init__(self, encoder: Any = None):
        super().__init__(None)
        self.config.embedding_dims = self.dims
        self._encoder = encoder

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from agentspec.routing.encoder import SentenceEncoder
            self._encoder = SentenceEncoder.load()
        return self._encoder

    def embed(self, text: Any, memory_action: str | None = None) -> list[float]:
        return self.encoder.embed([str(text)])[0].tolist()

    def embed_batch(self, texts: list[str], memory_action: str = "add") -> list[list[float]]:
        return [row.tolist() for row in self.encoder.embed([str(t) for t in texts])]
