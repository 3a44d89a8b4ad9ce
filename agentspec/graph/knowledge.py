"""Opening what a spec's ``memory:`` and ``retrieval:`` blocks name, for a session.

``open_memory(spec, encoder)``: the ``MemoryStore`` in ``memory.path`` (default ``$AGENTSPEC_HOME/memory``),
shared by every session of that home: memories outlive conversations. ``open_documents(spec, toolkits,
encoder)``: the ``DocumentIndex`` in ``retrieval.path`` (default ``$AGENTSPEC_HOME/retrieval``),
brought up to date with the spec's ``documents`` files and, with ``toolkit_documents``, what each
toolkit's ``documents()`` hook offers; only documents whose text changed are embedded again.
``encoder`` is the reader's sentence encoder when there is one (loaded once, shared). A missing
document file is an ``AgentSpecError`` naming it. ``open_knowledge(spec, data)``: both (None where
the spec has no such block), for a process that serves many sessions (the server): the toolkits'
documents are read from toolkits opened for the purpose and closed again.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.spec import AgentSpec

__all__ = ["agentspec_home", "home_folder", "open_documents", "open_knowledge", "open_memory"]


def agentspec_home() -> Path:
    """``$AGENTSPEC_HOME``, default ``~/.cache/agentspec``."""
    return Path(os.environ.get("AGENTSPEC_HOME") or Path.home() / ".cache" / "agentspec")


def home_folder(spec: AgentSpec, path: str | None, default: str) -> Path:
    """``path`` resolved against the spec's folder, else ``$AGENTSPEC_HOME/<default>``."""
    return spec.resolve_path(path) if path else agentspec_home() / default


def open_memory(spec: AgentSpec, encoder: Any = None) -> Any:
    from agentspec.memory.store import MemoryStore

    assert spec.memory is not None
    return MemoryStore.open(home_folder(spec, spec.memory.path, "memory"), encoder=encoder)


def open_documents(spec: AgentSpec, toolkits: list[Any], encoder: Any = None) -> Any:
    from agentspec.memory.documents import Document, DocumentIndex

    retrieval = spec.retrieval
    assert retrieval is not None
    documents: list[Any] = []
    for name in retrieval.documents:
        path = spec.resolve_path(name)
        if not path.is_file():
            raise AgentSpecError(f"retrieval.documents names {path}, which is not a file.",
                                 hint="Fix the path in the spec (relative paths start at the spec's folder).",
                                 code="document_missing")
        documents.append(Document(source=path.name, text=path.read_text(encoding="utf-8", errors="replace")))
    if retrieval.toolkit_documents:
        for toolkit in toolkits:
            hook = getattr(toolkit, "documents", None)
            documents += list(hook()) if hook else []
    index = DocumentIndex.open(home_folder(spec, retrieval.path, "retrieval"), encoder=encoder)
    try:
        index.update(documents)
    except BaseException:
        index.close()
        raise
    return index


def open_knowledge(spec: AgentSpec, data: Any = None) -> tuple[Any, Any]:
    """``(memory, documents)`` of the spec, opened once for many sessions (module docstring)."""
    from agentspec.toolkit import open_session_toolkit

    encoder = None
    if spec.understanding is not None:
        from agentspec.routing.reader import load_reader

        encoder = getattr(load_reader(spec.resolve_path(spec.understanding.reader)), "encoder", None)
    memory = open_memory(spec, encoder) if spec.memory is not None else None
    documents = None
    if spec.retrieval is not None:
        toolkits = [open_session_toolkit(tk.name, spec.resolve_config(tk.config), None,
                                         str(data) if data is not None else None) for tk in spec.toolkits]
        try:
            documents = open_documents(spec, toolkits, encoder)
        finally:
            for toolkit in toolkits:
                getattr(toolkit, "close", lambda: None)()
    return memory, documents
