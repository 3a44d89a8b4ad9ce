"""Serving side of learned readers and routers: what runs on the chat path, numpy only; agentspec.train fits them."""
from __future__ import annotations

__all__: list[str] = []
