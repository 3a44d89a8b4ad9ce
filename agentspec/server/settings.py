"""Settings of ``agentspec serve``: one typed schema for the command's flags and the app factory."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ServeSettings"]


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specs: list[str] = Field(default_factory=lambda: ["retail"], min_length=1,
                             description="Agent specs served (YAML paths or packaged names); `model` names one.")
    host: str = Field("127.0.0.1", description="Address to listen on (loopback by default).")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on (0: any free port).")
    workers: int = Field(1, ge=1, le=64, description="Model workers per spec, each with its own model.")
    threads: int | None = Field(None, ge=1, description="CPU threads per worker (default: cores / workers).")
    queue: int = Field(16, ge=0, le=10_000, description="Turns that may wait per spec; more get 429.")
    max_body_bytes: int = Field(65_536, ge=256, description="Larger request bodies get 413.")
    rate_per_minute: int = Field(120, ge=0, description="Requests a minute per API key (0: no limit).")
    database: str | None = Field(None, description="postgresql://... to share conversations between replicas "
                                 "(default: SQLite files under $AGENTSPEC_HOME).")
    data: str | None = Field(None, description="The data a new conversation's toolkits start from (retail: db.json).")
    approve: bool = Field(False, description="Consequential calls wait for an operator's approval.")
    shutdown_timeout_s: float = Field(30.0, ge=0, description="How long turns in flight may take to finish on shutdown.")
