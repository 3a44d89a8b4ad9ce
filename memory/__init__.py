"""Long-term memory, retrieval index and consistency checks (later issues)."""
