"""mem0, imported offline: telemetry off and its folder under ``$AGENTSPEC_HOME`` before it is imported.

mem0 reads ``MEM0_TELEMETRY`` and ``MEM0_DIR`` when its modules are first imported, and contacts outside
hosts unless telemetry is off; every module of ``agentspec.memory`` imports mem0 through this one.
``build_memory(folder, embedder, vector_store)`` gives a ``mem0.Memory`` whose embedder and vector store
are the ones given (mem0's factories know only their own providers; its ``llm`` block is required even
though nothing here lets mem0 call a model: extraction is ours, every add is ``infer=False``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("MEM0_DIR", str(Path(os.environ.get("AGENTSPEC_HOME") or Path.home() / ".cache" / "agentspec")
                                      / "mem0"))
for _name in ("mem0", "mem0.memory.main", "mem0.utils.spacy_models", "mem0.vector_stores"):
    logging.getLogger(_name).setLevel(logging.ERROR)

from mem0 import Memory  # noqa: E402
from mem0.embeddings.base import EmbeddingBase  # noqa: E402
from mem0.vector_stores.base import VectorStoreBase  # noqa: E402

__all__ = ["Memory", "EmbeddingBase", "VectorStoreBase", "build_memory"]


def build_memory(folder: Path, embedder: Any, vector_store: Any, dims: int = 384) -> Memory:
    """A ``mem0.Memory`` with its history database in ``folder`` and the given embedder and vector store."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "vector_store": {"provider": "faiss", "config": {"path": str(folder / "mem0-unused"), "collection_name": "unused",
                                                        "embedding_model_dims": dims}},
        "embedder": {"provider": "openai", "config": {"api_key": "unused-offline", "embedding_dims": dims}},
        "llm": {"provider": "openai", "config": {"api_key": "unused-offline"}},
        "history_db_path": str(folder / "history.sqlite"),
    }
    memory = Memory.from_config(config)
    memory.embedding_model = embedder
    memory.vector_store = vector_store
    return memory
