"""Long-term memory and retrieval: what the agent should know besides the conversation.

- ``store.MemoryStore``: per-customer memories on mem0 over ``vectors.DurableFaiss`` (SQLite the truth,
  per-user faiss indexes derived from it), offline (``_mem0``: telemetry off), embedded by the packaged
  MiniLM (``embedder``). The graph's ``recall`` step reads it; the toolkit says what is worth keeping
  and whether a memory still holds (``agentspec.hooks``).
- ``documents.DocumentIndex``: passages of domain documents (``_chunks``) in faiss over one SQLite
  file, re-embedded only where a document changed.

Nothing here knows a domain or a language.
"""
